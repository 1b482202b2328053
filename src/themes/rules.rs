//! Theme names and colours.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::text;

pub const MAX_NAME_CHARS: usize = 40;

/// 1–40 characters; unique per user regardless of case (the database decides).
pub fn name(raw: &str) -> Result<String, AppError> {
    text::line("name", raw, MAX_NAME_CHARS)
}

/// `#RRGGBB` in either case, stored upper-case so uniqueness ignores case.
pub fn color(raw: &str) -> Result<String, AppError> {
    let value = raw.trim();
    let valid = value.len() == 7
        && value.starts_with('#')
        && value[1..].bytes().all(|byte| byte.is_ascii_hexdigit());
    if !valid {
        return Err(AppError::bad_input(
            "color",
            "Colours are #RRGGBB, e.g. #3366CC",
        ));
    }
    Ok(value.to_ascii_uppercase())
}

/// A colour derived from the name, so the same name gets the same colour, stepping round the
/// colour wheel by the golden angle until one is found that `taken` lacks. Hues come first
/// because they tell themes apart best; past them, any 24-bit colour will do. `None` only once
/// every 24-bit colour is taken.
pub fn generated_color(name: &str, taken: &HashSet<String>) -> Option<String> {
    const GOLDEN_ANGLE: f64 = 137.507_764;
    let digest = Sha256::digest(name.to_lowercase().as_bytes());
    let mut first_bytes = [0u8; 8];
    first_bytes.copy_from_slice(&digest[..8]);
    let seed = u64::from_be_bytes(first_bytes);
    let first_hue = (seed % 360) as f64;
    let by_hue = (0..720u32).map(|step| {
        let hue = (first_hue + f64::from(step) * GOLDEN_ANGLE) % 360.0;
        let lightness = if step < 360 { 0.45 } else { 0.60 };
        hsl_to_hex(hue, 0.65, lightness)
    });
    let by_bits =
        (0..=0xFF_FFFFu32).map(|step| format!("#{:06X}", (seed as u32 ^ step) & 0xFF_FFFF));
    by_hue
        .chain(by_bits)
        .find(|candidate| !taken.contains(candidate))
}

/// `hue` in degrees, `saturation` and `lightness` in 0..=1.
fn hsl_to_hex(hue: f64, saturation: f64, lightness: f64) -> String {
    let chroma = (1.0 - (2.0 * lightness - 1.0).abs()) * saturation;
    let sector = hue / 60.0;
    let second = chroma * (1.0 - (sector % 2.0 - 1.0).abs());
    let (r, g, b) = match sector as u32 {
        0 => (chroma, second, 0.0),
        1 => (second, chroma, 0.0),
        2 => (0.0, chroma, second),
        3 => (0.0, second, chroma),
        4 => (second, 0.0, chroma),
        _ => (chroma, 0.0, second),
    };
    let offset = lightness - chroma / 2.0;
    let channel = |value: f64| ((value + offset) * 255.0).round().clamp(0.0, 255.0) as u8;
    format!("#{:02X}{:02X}{:02X}", channel(r), channel(g), channel(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_normalised_to_upper_case() {
        assert_eq!(color("#a1b2c3").unwrap(), "#A1B2C3");
        assert_eq!(color(" #FFFFFF ").unwrap(), "#FFFFFF");
        for bad in ["", "#FFF", "FFFFFF", "#GGGGGG", "#FFFFFFF", "##FFFFF"] {
            assert!(color(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hsl_primaries() {
        assert_eq!(hsl_to_hex(0.0, 1.0, 0.5), "#FF0000");
        assert_eq!(hsl_to_hex(120.0, 1.0, 0.5), "#00FF00");
        assert_eq!(hsl_to_hex(240.0, 1.0, 0.5), "#0000FF");
        assert_eq!(hsl_to_hex(0.0, 0.0, 1.0), "#FFFFFF");
    }

    #[test]
    fn generated_colours_follow_the_name_and_avoid_taken_ones() {
        let none = HashSet::new();
        let work = generated_color("Work", &none).unwrap();
        assert_eq!(work, generated_color("work", &none).unwrap());
        assert!(color(&work).is_ok());
        let taken: HashSet<String> = [work.clone()].into();
        let other = generated_color("Work", &taken).unwrap();
        assert_ne!(other, work);
        // Every hue taken still leaves a colour.
        let mut all: HashSet<String> = HashSet::new();
        for _ in 0..800 {
            let next = generated_color("Work", &all).unwrap();
            assert!(all.insert(next));
        }
    }
}
