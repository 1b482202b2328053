//! Pure rules of quotes: reading a provider's answer, what a storable quote is, and which quote
//! a user sees on a given day.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate};

use super::model::Quote;
use crate::text::is_forbidden_in_text;

/// The longest quote kept, in characters. With [`MAX_AUTHOR_CHARS`] it keeps an entry of the
/// `(text, author)` unique index within PostgreSQL's B-tree limit of 2704 bytes, whatever the
/// script (600 characters of at most four bytes each).
pub const MAX_TEXT_CHARS: usize = 500;
/// The longest author kept, in characters.
pub const MAX_AUTHOR_CHARS: usize = 100;
/// The largest answer read from a provider; ZenQuotes' fifty quotes take about 25 KiB.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Quotes to answer with before any fetch succeeded (or when no provider is configured): public
/// domain, and on doing things a little at a time.
pub const BUILT_IN: [(&str, &str); 10] = [
    (
        "The journey of a thousand miles begins with a single step.",
        "Lao Tzu",
    ),
    (
        "We become just by doing just acts, temperate by doing temperate acts, brave by doing \
         brave acts.",
        "Aristotle",
    ),
    (
        "It is not that we have a short time to live, but that we waste a lot of it.",
        "Seneca",
    ),
    (
        "First say to yourself what you would be; and then do what you have to do.",
        "Epictetus",
    ),
    (
        "Waste no more time arguing about what a good man should be. Be one.",
        "Marcus Aurelius",
    ),
    ("Well done is better than well said.", "Benjamin Franklin"),
    (
        "Knowing is not enough; we must apply. Willing is not enough; we must do.",
        "Johann Wolfgang von Goethe",
    ),
    (
        "Do what you can, with what you have, where you are.",
        "Theodore Roosevelt",
    ),
    ("The unexamined life is not worth living.", "Socrates"),
    (
        "Great things are not done by impulse, but by a series of small things brought together.",
        "Vincent van Gogh",
    ),
];

/// Why a provider's answer gave no quote to store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerProblem {
    NotJson,
    NotAnArray,
    /// An array, but none of its entries is a quote [`quote`] accepts.
    NoValidQuote,
}

/// The quotes in a ZenQuotes-shaped answer (`[{"q": text, "a": author, "h": html}, …]`), each
/// once, in the answer's order; entries that are not valid quotes are left out.
pub fn parse_answer(body: &[u8]) -> Result<Vec<Quote>, AnswerProblem> {
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| AnswerProblem::NotJson)?;
    let entries = answer.as_array().ok_or(AnswerProblem::NotAnArray)?;
    let mut seen = HashSet::new();
    let quotes: Vec<Quote> = entries
        .iter()
        .filter_map(|entry| quote(entry["q"].as_str()?, entry["a"].as_str()?))
        .filter(|quote| seen.insert(quote.clone()))
        .collect();
    if quotes.is_empty() {
        return Err(AnswerProblem::NoValidQuote);
    }
    Ok(quotes)
}

/// A quote worth storing: text and author trimmed, non-empty, short enough, and free of control
/// and direction-override characters (a quote is shown as one paragraph).
pub fn quote(text: &str, author: &str) -> Option<Quote> {
    let (text, author) = (text.trim(), author.trim());
    let fits = |value: &str, max: usize| {
        !value.is_empty()
            && value.chars().count() <= max
            && !value.chars().any(is_forbidden_in_text)
    };
    // ZenQuotes answers a client over its rate limit with a notice in place of a quote, signed
    // by itself; it would otherwise be some user's quote of the day.
    let provider_notice = author.eq_ignore_ascii_case("zenquotes.io");
    (fits(text, MAX_TEXT_CHARS) && fits(author, MAX_AUTHOR_CHARS) && !provider_notice).then(|| {
        Quote {
            text: text.to_owned(),
            author: author.to_owned(),
        }
    })
}

/// The number that picks `user_id`'s quote on their local `date`: the same all day, and
/// scattered across users and days (SplitMix64's finaliser), never negative.
pub fn daily_seed(user_id: i64, date: NaiveDate) -> i64 {
    let day = u64::from(date.num_days_from_ce().unsigned_abs());
    let mixed = mix(mix(user_id.cast_unsigned()) ^ day);
    (mixed >> 1).cast_signed()
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The built-in quote `seed` picks.
pub fn built_in(seed: i64) -> Quote {
    let index = seed.unsigned_abs() % BUILT_IN.len() as u64;
    let (text, author) = BUILT_IN[index as usize];
    Quote {
        text: text.to_owned(),
        author: author.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str, author: &str) -> Quote {
        Quote {
            text: text.to_owned(),
            author: author.to_owned(),
        }
    }

    #[test]
    fn a_zenquotes_answer_gives_its_quotes_in_order() {
        let body = br#"[
            {"q": "Act well.", "a": "Someone", "h": "<blockquote>Act well.</blockquote>"},
            {"q": "  Rest well.  ", "a": " Another ", "h": ""}
        ]"#;
        assert_eq!(
            parse_answer(body),
            Ok(vec![q("Act well.", "Someone"), q("Rest well.", "Another")])
        );
    }

    #[test]
    fn invalid_entries_are_dropped_and_repeats_kept_once() {
        let long_text = "x".repeat(MAX_TEXT_CHARS + 1);
        let long_author = "y".repeat(MAX_AUTHOR_CHARS + 1);
        let body = serde_json::json!([
            {"q": "Kept.", "a": "Ann"},
            {"q": "Kept.", "a": "Ann"},
            {"q": " Kept. ", "a": "Ann"},
            {"q": "Kept.", "a": "Bob"},
            {"q": "", "a": "Ann"},
            {"q": "   ", "a": "Ann"},
            {"q": "No author.", "a": ""},
            {"q": "Two\nlines.", "a": "Ann"},
            {"q": "A bell\u{7}.", "a": "Ann"},
            {"q": "Turned \u{202E}around.", "a": "Ann"},
            {"q": "Fine.", "a": "Tab\tbed"},
            {"q": long_text, "a": "Ann"},
            {"q": "Fine.", "a": long_author},
            {"q": 42, "a": "Ann"},
            {"q": "No author field."},
            {"a": "No text field"},
            "a string",
            null,
            {"q": "Too many requests. Obtain an auth key for unlimited access.", "a": "zenquotes.io"},
        ]);
        assert_eq!(
            parse_answer(body.to_string().as_bytes()),
            Ok(vec![q("Kept.", "Ann"), q("Kept.", "Bob")])
        );
    }

    #[test]
    fn the_longest_allowed_text_and_author_are_kept() {
        let text = "é".repeat(MAX_TEXT_CHARS);
        let author = "ß".repeat(MAX_AUTHOR_CHARS);
        assert_eq!(quote(&text, &author), Some(q(&text, &author)));
    }

    #[test]
    fn answers_without_a_quote_are_refused_by_kind() {
        assert_eq!(parse_answer(b"not json"), Err(AnswerProblem::NotJson));
        assert_eq!(parse_answer(b""), Err(AnswerProblem::NotJson));
        assert_eq!(
            parse_answer(b"<html><body>Bad gateway</body></html>"),
            Err(AnswerProblem::NotJson)
        );
        assert_eq!(
            parse_answer(br#"[{"q": "cut off"#),
            Err(AnswerProblem::NotJson)
        );
        assert_eq!(
            parse_answer(br#"{"q": "An object", "a": "Not an array"}"#),
            Err(AnswerProblem::NotAnArray)
        );
        assert_eq!(parse_answer(b"\"text\""), Err(AnswerProblem::NotAnArray));
        assert_eq!(parse_answer(b"[]"), Err(AnswerProblem::NoValidQuote));
        assert_eq!(
            parse_answer(br#"[{"q": "", "a": ""}, 1, "two"]"#),
            Err(AnswerProblem::NoValidQuote)
        );
    }

    #[test]
    fn the_built_in_quotes_pass_the_rules_and_are_distinct() {
        let mut seen = HashSet::new();
        for (text, author) in BUILT_IN {
            assert_eq!(quote(text, author), Some(q(text, author)));
            assert!(seen.insert(text), "{text} twice");
        }
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_user_keeps_one_seed_all_day_and_it_moves_with_the_date() {
        let today = day("2026-12-10");
        assert_eq!(daily_seed(7, today), daily_seed(7, today));
        let month: HashSet<usize> = (0..30)
            .map(|offset| {
                let date = today + chrono::Days::new(offset);
                (daily_seed(7, date) % 10) as usize
            })
            .collect();
        // Thirty days over ten choices: a seed that ignored the date would give one.
        assert!(month.len() >= 5, "{month:?}");
        assert_ne!(daily_seed(7, today), daily_seed(7, day("2026-12-11")));
    }

    #[test]
    fn users_on_one_day_are_spread_over_the_quotes() {
        let today = day("2026-12-10");
        let picks: HashSet<i64> = (1..=30).map(|user| daily_seed(user, today) % 10).collect();
        assert!(picks.len() >= 5, "{picks:?}");
        assert_ne!(daily_seed(1, today), daily_seed(2, today));
    }

    #[test]
    fn seeds_are_never_negative() {
        for user in [i64::MIN, -1, 0, 1, i64::MAX] {
            for date in [NaiveDate::MIN, day("1970-01-01"), NaiveDate::MAX] {
                assert!(daily_seed(user, date) >= 0);
            }
        }
    }

    #[test]
    fn a_seed_picks_a_built_in_quote_by_its_remainder() {
        assert_eq!(built_in(0), q(BUILT_IN[0].0, BUILT_IN[0].1));
        assert_eq!(built_in(13), q(BUILT_IN[3].0, BUILT_IN[3].1));
        assert_eq!(built_in(i64::MAX), built_in(i64::MAX % 10));
    }
}
