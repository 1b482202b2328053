//! Rules for free text that people type: names and titles are one trimmed line, descriptions
//! may span lines. Neither may carry control or direction-override characters, which would let
//! a name render as something else; emoji sequences (zero-width joiners) are fine.

use unicode_normalization::UnicodeNormalization;

use crate::error::AppError;

/// Characters refused in anything a person types.
pub fn is_forbidden_in_text(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// An identifier (a username, an address, a sign-in name) as it is compared: compatibility
/// forms fold to their plain letters (fullwidth `ａ` is `a`, the ligature `ﬁ` is `fi`) and case
/// is lowered, as RFC 8265's case-mapped profile does; otherwise `ａｌｉｃｅ@x.com` would be a
/// second account beside `alice@x.com`, reading the same to every person who sees it.
pub fn fold_identifier(raw: &str) -> String {
    raw.trim()
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect()
}

/// The longest search string a filter takes: longer ones find nothing a shorter part would not.
pub const MAX_SEARCH_CHARS: usize = 100;

/// A trimmed line of 1 to `max_chars` characters.
pub fn line(field: &'static str, raw: &str, max_chars: usize) -> Result<String, AppError> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > max_chars {
        return Err(AppError::bad_input(
            field,
            format!("Must be 1 to {max_chars} characters"),
        ));
    }
    clean(field, text, is_forbidden_in_text)?;
    Ok(text.to_owned())
}

/// Trimmed text of at most `max_chars` characters; line breaks and tabs are allowed.
pub fn paragraphs(field: &'static str, raw: &str, max_chars: usize) -> Result<String, AppError> {
    let text = raw.trim();
    at_most(field, text, max_chars)?;
    clean(field, text, |c| {
        c != '\n' && c != '\t' && is_forbidden_in_text(c)
    })?;
    Ok(text.to_owned())
}

/// A trimmed line of at most `max_chars` characters, possibly empty: what a client sends to
/// find or name something (a search, a sign-in name, a filter value). Every such text passes
/// here before it is compared, logged or sent to the database, which refuses NUL outright.
pub fn term(field: &'static str, raw: &str, max_chars: usize) -> Result<String, AppError> {
    let text = raw.trim();
    at_most(field, text, max_chars)?;
    clean(field, text, is_forbidden_in_text)?;
    Ok(text.to_owned())
}

/// A filter's optional `search`, as a [`term`] of at most [`MAX_SEARCH_CHARS`]; blank means
/// no search at all.
pub fn search(raw: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let text = term("search", raw, MAX_SEARCH_CHARS)?;
    Ok((!text.is_empty()).then_some(text))
}

fn at_most(field: &'static str, text: &str, max_chars: usize) -> Result<(), AppError> {
    if text.chars().count() > max_chars {
        return Err(AppError::bad_input(
            field,
            format!("Must be at most {max_chars} characters"),
        ));
    }
    Ok(())
}

fn clean(
    field: &'static str,
    text: &str,
    forbidden: impl Fn(char) -> bool,
) -> Result<(), AppError> {
    if text.chars().any(forbidden) {
        return Err(AppError::bad_input(
            field,
            "Must not contain control or direction-override characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_bounded_and_clean() {
        assert_eq!(line("name", "  Read 📚 ", 10).unwrap(), "Read 📚");
        // A family emoji is several code points joined by U+200D.
        assert!(line("name", "👩\u{200D}👩\u{200D}👧 time", 40).is_ok());
        assert!(line("name", "   ", 10).is_err());
        assert!(line("name", &"x".repeat(11), 10).is_err());
        assert!(line("name", "a\u{202E}b", 10).is_err());
        assert!(line("name", "a\nb", 10).is_err());
    }

    #[test]
    fn paragraphs_keep_line_breaks_only() {
        assert_eq!(paragraphs("d", " a\n\tb ", 10).unwrap(), "a\n\tb");
        assert_eq!(paragraphs("d", "", 10).unwrap(), "");
        assert!(paragraphs("d", "a\u{0007}", 10).is_err());
        assert!(paragraphs("d", "a\u{2066}", 10).is_err());
        assert!(paragraphs("d", &"x".repeat(11), 10).is_err());
    }

    #[test]
    fn terms_may_be_empty_but_not_long_or_dirty() {
        assert_eq!(term("search", "  ada ", 10).unwrap(), "ada");
        assert_eq!(term("search", "", 10).unwrap(), "");
        assert!(term("search", &"x".repeat(10), 10).is_ok());
        assert!(term("search", &"x".repeat(11), 10).is_err());
        assert_eq!(search(Some("  ")).unwrap(), None);
        assert_eq!(search(None).unwrap(), None);
        assert_eq!(search(Some(" Ada ")).unwrap().as_deref(), Some("Ada"));
        assert!(search(Some(&"x".repeat(MAX_SEARCH_CHARS + 1))).is_err());
        for dirty in ["ada\u{0}", "a\u{1b}[31m", "a\nb", "a\u{202E}b"] {
            match term("login", dirty, 10) {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "login"),
                other => panic!("{dirty:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn identifiers_fold_width_and_case() {
        assert_eq!(fold_identifier(" ａｌｉｃｅ@Ｘ.com "), "alice@x.com");
        assert_eq!(fold_identifier("ALICE@x.com"), "alice@x.com");
        assert_eq!(fold_identifier("\u{FB01}le"), "file");
        assert_eq!(fold_identifier("Zoë"), fold_identifier("Zoe\u{0308}"));
    }
}
