//! Pure rules of payments: the `Stripe-Signature` check and what a top-up may be.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a webhook's signed time may be from the clock, either way (Stripe's own default).
pub const SIGNATURE_TOLERANCE: Duration = Duration::minutes(5);

/// The price of `units` of budget in minor units, or why they cannot be bought in one top-up.
pub fn top_up_amount(units: i64, max_units: i64, unit_price: i64) -> Result<i64, String> {
    if !(1..=max_units).contains(&units) {
        return Err(format!("Buy between 1 and {max_units} units at a time"));
    }
    units
        .checked_mul(unit_price)
        .ok_or_else(|| "That many units cost more than can be paid at once".to_owned())
}

/// Budget units that `refunded` of a top-up's `amount` stand for, of its `units`: rounded up,
/// so money given back never leaves a unit it paid for in the budget, and never more than
/// were bought (Stripe-compatible servers may let refunds exceed the charge).
pub fn units_refunded(units: i64, amount: i64, refunded: i64) -> i64 {
    if amount <= 0 || refunded <= 0 {
        return 0;
    }
    let refunded = i128::from(refunded.min(amount));
    let share = (refunded * i128::from(units) + i128::from(amount) - 1) / i128::from(amount);
    i64::try_from(share).map_or(units, |share| share.min(units))
}

/// The money a refund gives back: `asked`, or all of `remaining` when not given; between 1
/// and what is left of the payment.
pub fn refund_amount(asked: Option<i64>, remaining: i64) -> Result<i64, String> {
    if remaining <= 0 {
        return Err("Everything paid for this top-up was given back already".to_owned());
    }
    let amount = asked.unwrap_or(remaining);
    if !(1..=remaining).contains(&amount) {
        return Err(format!("Refund between 1 and {remaining} (minor units)"));
    }
    Ok(amount)
}

/// Why a webhook's signature was refused. Never says which part of the secret matched.
#[derive(Debug, PartialEq, Eq)]
pub enum SignatureProblem {
    /// No `t=` or no `v1=` in the header, or a `t` that is not a number.
    Malformed,
    /// The signed time is further from now than the tolerance: an old delivery replayed.
    OutsideTolerance,
    /// No `v1` value is the HMAC of this payload at this time under the secret.
    NoMatch,
}

/// Checks a `Stripe-Signature` header (`t=<unix>,v1=<hex>,v1=<hex>,v0=…`) for `payload`: an
/// HMAC-SHA256 under `secret` of `"<t>.<payload>"`, compared in constant time against every
/// `v1` value (Stripe sends several while a secret is being rolled), with `t` within
/// [`SIGNATURE_TOLERANCE`] of `now`.
pub fn verify_signature(
    header: &str,
    payload: &[u8],
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), SignatureProblem> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => candidates.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureProblem::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureProblem::Malformed);
    }
    let signed_at = DateTime::from_timestamp(timestamp, 0).ok_or(SignatureProblem::Malformed)?;
    if (now - signed_at).abs() > SIGNATURE_TOLERANCE {
        return Err(SignatureProblem::OutsideTolerance);
    }
    let matches = |candidate: &str| {
        let Ok(expected) = hex::decode(candidate) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&expected).is_ok()
    };
    // Every candidate is checked, so the time taken does not tell which one matched.
    let matched = candidates
        .into_iter()
        .fold(false, |found, candidate| matches(candidate) | found);
    if matched {
        Ok(())
    } else {
        Err(SignatureProblem::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const PAYLOAD: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn at(unix: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix, 0).unwrap()
    }

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn a_top_up_buys_a_bounded_number_of_units() {
        assert_eq!(top_up_amount(5, 100, 250), Ok(1250));
        assert!(top_up_amount(0, 100, 250).is_err());
        assert!(top_up_amount(-1, 100, 250).is_err());
        assert!(top_up_amount(101, 100, 250).is_err());
        assert!(top_up_amount(i64::MAX, i64::MAX, 2).is_err());
    }

    #[test]
    fn refunds_take_back_the_units_they_paid_for_rounded_up() {
        // 7 units for 700: each 100 given back is one unit.
        assert_eq!(units_refunded(7, 700, 0), 0);
        assert_eq!(units_refunded(7, 700, 100), 1);
        assert_eq!(units_refunded(7, 700, 101), 2);
        assert_eq!(units_refunded(7, 700, 700), 7);
        // More than was paid (a lenient server) is still at most every unit.
        assert_eq!(units_refunded(7, 700, 5_000), 7);
        // A price that does not divide: 3 units for 1000, a third of a unit per 111.
        assert_eq!(units_refunded(3, 1000, 1), 1);
        assert_eq!(units_refunded(3, 1000, 334), 2);
        assert_eq!(units_refunded(3, 1000, 999), 3);
        // Large values do not overflow.
        assert_eq!(units_refunded(i64::MAX, i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(units_refunded(10, 0, 5), 0);
    }

    #[test]
    fn a_refund_gives_back_at_most_what_is_left() {
        assert_eq!(refund_amount(None, 500), Ok(500));
        assert_eq!(refund_amount(Some(200), 500), Ok(200));
        assert_eq!(refund_amount(Some(500), 500), Ok(500));
        assert!(refund_amount(Some(501), 500).is_err());
        assert!(refund_amount(Some(0), 500).is_err());
        assert!(refund_amount(Some(-3), 500).is_err());
        assert!(refund_amount(None, 0).is_err());
    }

    #[test]
    fn a_right_signature_within_the_tolerance_passes() {
        let t = 1_800_000_000;
        let header = format!("t={t},v1={}", sign(SECRET, t, PAYLOAD));
        assert_eq!(
            verify_signature(&header, PAYLOAD, SECRET, at(t + 299)),
            Ok(())
        );
        assert_eq!(
            verify_signature(&header, PAYLOAD, SECRET, at(t - 299)),
            Ok(())
        );
    }

    #[test]
    fn any_of_several_v1_values_may_match_and_v0_is_ignored() {
        let t = 1_800_000_000;
        let header = format!(
            "t={t}, v0={}, v1={}, v1={}",
            sign(SECRET, t, PAYLOAD),
            sign("whsec_old", t, PAYLOAD),
            sign(SECRET, t, PAYLOAD)
        );
        assert_eq!(verify_signature(&header, PAYLOAD, SECRET, at(t)), Ok(()));
        let only_v0 = format!("t={t},v0={}", sign(SECRET, t, PAYLOAD));
        assert_eq!(
            verify_signature(&only_v0, PAYLOAD, SECRET, at(t)),
            Err(SignatureProblem::Malformed)
        );
    }

    #[test]
    fn old_or_future_timestamps_are_refused() {
        let t = 1_800_000_000;
        let header = format!("t={t},v1={}", sign(SECRET, t, PAYLOAD));
        for now in [t + 301, t - 301, t + 86_400] {
            assert_eq!(
                verify_signature(&header, PAYLOAD, SECRET, at(now)),
                Err(SignatureProblem::OutsideTolerance)
            );
        }
    }

    #[test]
    fn another_payload_secret_or_time_does_not_match() {
        let t = 1_800_000_000;
        let header = format!("t={t},v1={}", sign(SECRET, t, PAYLOAD));
        let refused = Err(SignatureProblem::NoMatch);
        assert_eq!(verify_signature(&header, b"{}", SECRET, at(t)), refused);
        assert_eq!(
            verify_signature(&header, PAYLOAD, "whsec_other", at(t)),
            refused
        );
        let moved = format!("t={},v1={}", t + 1, sign(SECRET, t, PAYLOAD));
        assert_eq!(verify_signature(&moved, PAYLOAD, SECRET, at(t)), refused);
    }

    #[test]
    fn malformed_headers_are_refused_without_panicking() {
        for header in [
            "",
            "t=",
            "v1=ab",
            "t=x,v1=ab",
            "t=1,v1=zz",
            "garbage",
            "t=99999999999999999999,v1=ab",
        ] {
            assert_ne!(
                verify_signature(header, PAYLOAD, SECRET, at(1_800_000_000)),
                Ok(()),
                "{header:?}"
            );
        }
    }
}
