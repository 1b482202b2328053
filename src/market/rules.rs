//! Validation of item fields and trade inputs.

use crate::error::{AppError, reason};
use crate::text;

pub const MAX_NAME_CHARS: usize = 50;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 100;

/// 1–50 characters after trimming; unique regardless of case (the database decides).
pub fn item_name(raw: &str) -> Result<String, AppError> {
    text::line("name", raw, MAX_NAME_CHARS)
}

/// Prices are whole units, at least 1.
pub fn price(value: i64) -> Result<i64, AppError> {
    if value <= 0 {
        return Err(AppError::bad_input(
            "price",
            "Price must be a positive whole number",
        ));
    }
    Ok(value)
}

/// Exactly 12 digits (UPC-A length), kept as text so leading zeros survive.
pub fn barcode(raw: &str) -> Result<String, AppError> {
    let code = raw.trim();
    if code.len() != 12 || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(AppError::bad_input(
            "barcode",
            "Barcodes are exactly 12 digits",
        ));
    }
    Ok(code.to_owned())
}

pub fn description(raw: &str) -> Result<String, AppError> {
    text::paragraphs("description", raw, MAX_DESCRIPTION_CHARS)
}

/// A client-chosen key that makes a purchase safe to retry: 1–100 visible ASCII characters.
pub fn idempotency_key(raw: &str) -> Result<String, AppError> {
    if raw.is_empty()
        || raw.len() > MAX_IDEMPOTENCY_KEY_CHARS
        || !raw.bytes().all(|byte| byte.is_ascii_graphic())
    {
        return Err(AppError::bad_input(
            "idempotencyKey",
            format!(
                "Idempotency keys are 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
            ),
        ));
    }
    Ok(raw.to_owned())
}

/// A price filter: both bounds non-negative, the lower not above the upper.
pub fn price_range(
    min: Option<i64>,
    max: Option<i64>,
) -> Result<(Option<i64>, Option<i64>), AppError> {
    if min.is_some_and(|min| min < 0) {
        return Err(AppError::bad_input(
            "minPrice",
            "minPrice must not be negative",
        ));
    }
    if max.is_some_and(|max| max < 0) {
        return Err(AppError::bad_input(
            "maxPrice",
            "maxPrice must not be negative",
        ));
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(AppError::bad_input(
            "minPrice",
            "minPrice must not exceed maxPrice",
        ));
    }
    Ok((min, max))
}

/// The budget after a sale credits `price`, or `None` if it would not fit in the budget's range.
pub fn credit(budget: i64, price: i64) -> Option<i64> {
    budget.checked_add(price)
}

/// The budget after a purchase debits `price`, or `None` if the budget does not cover it.
pub fn debit(budget: i64, price: i64) -> Option<i64> {
    budget.checked_sub(price).filter(|left| *left >= 0)
}

/// The budget after each of a run of sales for `prices`, in order, or `None` if one would
/// overflow: what an erased account's held items credit as they go back to the market.
pub fn credits(budget: i64, prices: &[i64]) -> Option<Vec<i64>> {
    prices
        .iter()
        .scan(Some(budget), |balance, price| {
            *balance = balance.and_then(|balance| credit(balance, *price));
            Some(*balance)
        })
        .collect()
}

/// Whether a viewer sees an item: on the market, held by them, or they manage items.
pub fn may_see(owner_id: Option<i64>, viewer_id: i64, manages_items: bool) -> bool {
    owner_id.is_none() || owner_id == Some(viewer_id) || manages_items
}

/// The price of a held item stays as it is: a sale credits the price, so changing it would
/// create or destroy money.
pub fn check_price_change(held: bool, current: i64, new: Option<i64>) -> Result<(), AppError> {
    if held && new.is_some_and(|price| price != current) {
        return Err(AppError::Conflict {
            reason: reason::OWNED,
            field: Some("price"),
            message: "The price of an item someone holds cannot change".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_run_in_order_and_refuse_an_overflow() {
        assert_eq!(credits(10, &[5, 7]), Some(vec![15, 22]));
        assert_eq!(credits(10, &[]), Some(vec![]));
        assert_eq!(credits(i64::MAX - 1, &[1, 1]), None);
    }

    #[test]
    fn held_items_keep_their_price_and_show_to_their_holder() {
        assert!(check_price_change(true, 5, Some(5)).is_ok());
        assert!(check_price_change(true, 5, None).is_ok());
        assert!(check_price_change(false, 5, Some(6)).is_ok());
        assert!(check_price_change(true, 5, Some(6)).is_err());
        assert!(may_see(None, 1, false));
        assert!(may_see(Some(1), 1, false));
        assert!(!may_see(Some(2), 1, false));
        assert!(may_see(Some(2), 1, true));
    }

    #[test]
    fn names_prices_barcodes() {
        assert_eq!(item_name("  Lamp ").unwrap(), "Lamp");
        assert!(item_name("").is_err() && item_name(&"n".repeat(51)).is_err());
        assert!(price(0).is_err() && price(-1).is_err() && price(i64::MIN).is_err());
        assert_eq!(price(i64::MAX).unwrap(), i64::MAX);
        assert_eq!(barcode("012345678905").unwrap(), "012345678905");
        for bad in [
            "01234567890",
            "0123456789012",
            "01234567890a",
            "abcdefghijkl",
            "１２３４５６７８９０１２",
        ] {
            assert!(barcode(bad).is_err(), "{bad}");
        }
        assert!(description(&"d".repeat(1024)).is_ok() && description(&"d".repeat(1025)).is_err());
        assert!(description("two\nlines").is_ok() && description("bell\u{7}").is_err());
    }

    #[test]
    fn idempotency_keys_and_ranges() {
        assert!(idempotency_key("order-42").is_ok());
        for bad in ["", "has space", "ünïcode", &"k".repeat(101)] {
            assert!(idempotency_key(bad).is_err(), "{bad}");
        }
        assert!(price_range(Some(10), Some(5)).is_err());
        assert!(price_range(Some(-1), None).is_err());
        assert_eq!(price_range(Some(5), Some(5)).unwrap(), (Some(5), Some(5)));
    }

    #[test]
    fn money_arithmetic_is_checked() {
        assert_eq!(debit(100, 30), Some(70));
        assert_eq!(debit(29, 30), None);
        assert_eq!(debit(30, 30), Some(0));
        assert_eq!(credit(10, 30), Some(40));
        assert_eq!(credit(i64::MAX, 1), None);
    }
}
