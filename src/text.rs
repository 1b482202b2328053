//! Rules for free text that people type: names and titles are one trimmed line, descriptions
//! may span lines. Neither may carry control or direction-override characters, which would let
//! a name render as something else; emoji sequences (zero-width joiners) are fine.

use crate::error::AppError;

/// Characters refused in anything a person types.
pub fn is_forbidden_in_text(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A trimmed line of 1 to `max_chars` characters.
pub fn line(field: &'static str, raw: &str, max_chars: usize) -> Result<String, AppError> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > max_chars {
        return Err(AppError::bad_input(
            field,
            format!("Must be 1 to {max_chars} characters"),
        ));
    }
    if text.chars().any(is_forbidden_in_text) {
        return Err(AppError::bad_input(
            field,
            "Must not contain control or direction-override characters",
        ));
    }
    Ok(text.to_owned())
}

/// Trimmed text of at most `max_chars` characters; line breaks and tabs are allowed.
pub fn paragraphs(field: &'static str, raw: &str, max_chars: usize) -> Result<String, AppError> {
    let text = raw.trim();
    let forbidden = |c: char| c != '\n' && c != '\t' && is_forbidden_in_text(c);
    if text.chars().count() > max_chars {
        return Err(AppError::bad_input(
            field,
            format!("Must be at most {max_chars} characters"),
        ));
    }
    if text.chars().any(forbidden) {
        return Err(AppError::bad_input(
            field,
            "Must not contain control or direction-override characters",
        ));
    }
    Ok(text.to_owned())
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
}
