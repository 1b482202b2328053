//! Pure rules for roles and permissions.

use std::collections::HashSet;

use crate::error::AppError;

pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// Role names: 1–50 characters of letters, digits, `_`, `-`, `.` and spaces, trimmed. Unique
/// regardless of case.
pub fn role_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ');
    if name.is_empty() || name.chars().count() > 50 || !name.chars().all(allowed) {
        return Err(AppError::bad_input(
            "name",
            "Role names are 1 to 50 letters, digits, spaces, '_', '-' or '.'",
        ));
    }
    Ok(name.to_owned())
}

/// Permission names are `resource:action`, lower case, e.g. `items:manage`.
pub fn permission_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    let part_ok = |part: &str| {
        (1..=40).contains(&part.len())
            && part.starts_with(|c: char| c.is_ascii_lowercase())
            && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    };
    match name.split_once(':') {
        Some((resource, action)) if part_ok(resource) && part_ok(action) => Ok(name.to_owned()),
        _ => Err(AppError::bad_input(
            "name",
            "Permission names are resource:action in lower case, e.g. items:manage",
        )),
    }
}

pub fn description(raw: &str) -> Result<String, AppError> {
    let text = raw.trim();
    if text.chars().count() > MAX_DESCRIPTION_CHARS || text.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            "description",
            format!("At most {MAX_DESCRIPTION_CHARS} characters, no control characters"),
        ));
    }
    Ok(text.to_owned())
}

/// The permissions in `wanted` that `held` lacks, sorted: nobody hands out what they do not hold.
pub fn not_held<'a>(
    held: &HashSet<String>,
    wanted: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut missing: Vec<&str> = wanted
        .into_iter()
        .filter(|name| !held.contains(*name))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        assert_eq!(role_name("  Support staff ").unwrap(), "Support staff");
        assert!(role_name("").is_err());
        assert!(role_name(&"r".repeat(51)).is_err());
        assert!(role_name("semi;colon").is_err());
    }

    #[test]
    fn permission_names() {
        assert_eq!(permission_name("items:manage").unwrap(), "items:manage");
        assert_eq!(
            permission_name(" api_tokens:manage ").unwrap(),
            "api_tokens:manage"
        );
        for bad in [
            "items",
            "Items:manage",
            "items:",
            ":manage",
            "items:manage:all",
            "1tems:read",
            "items:read-all",
        ] {
            assert!(permission_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_held_permissions_may_be_handed_out() {
        let held: HashSet<String> = ["a:read", "b:read"].into_iter().map(String::from).collect();
        assert!(not_held(&held, ["a:read"]).is_empty());
        assert_eq!(
            not_held(&held, ["c:write", "a:read", "c:write", "b:manage"]),
            ["b:manage", "c:write"]
        );
    }

    #[test]
    fn descriptions() {
        assert_eq!(description("  Reads things ").unwrap(), "Reads things");
        assert!(description("line\u{0007}").is_err());
        assert!(description(&"d".repeat(501)).is_err());
    }
}
