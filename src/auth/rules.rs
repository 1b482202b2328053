//! Password policy (DESIGN.md §3): 8–256 characters after NFC normalisation, any characters,
//! never truncated, and not one of the commonly used passwords.

use std::collections::HashSet;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

use crate::error::AppError;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

#[derive(Debug, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    TooCommon,
    /// The account's own username or address, in any case or width.
    NamesTheAccount,
}

impl PasswordProblem {
    pub fn message(&self) -> String {
        match self {
            Self::TooShort => {
                format!("Password must have at least {MIN_PASSWORD_CHARS} characters")
            }
            Self::TooLong => format!("Password must have at most {MAX_PASSWORD_CHARS} characters"),
            Self::TooCommon => "Password is too common; choose another".to_owned(),
            Self::NamesTheAccount => {
                "Password must not be the username or the email address".to_owned()
            }
        }
    }
}

/// The password as it will be hashed (NFC), or why it is refused. Logins normalise the same way,
/// so a password typed on another keyboard layout still matches. `identities` are the
/// account's username and address: the first guesses anyone makes, so never its password.
pub fn check_new_password(password: &str, identities: &[&str]) -> Result<String, PasswordProblem> {
    let normalized = normalize_password(password);
    let length = normalized.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(PasswordProblem::TooLong);
    }
    if COMMON_PASSWORDS.contains(normalized.to_lowercase().as_str()) {
        return Err(PasswordProblem::TooCommon);
    }
    let folded = crate::text::fold_identifier(&normalized);
    if identities
        .iter()
        .any(|identity| crate::text::fold_identifier(identity) == folded)
    {
        return Err(PasswordProblem::NamesTheAccount);
    }
    Ok(normalized)
}

/// A password presented to be checked, as it is compared (NFC), or `BAD_USER_INPUT` on `field`
/// when it is longer than any password the policy lets anyone set: it cannot match, so it is
/// refused before a hash is spent on it.
pub fn presented_password(field: &'static str, password: &str) -> Result<String, AppError> {
    let normalized = normalize_password(password);
    if normalized.chars().count() > MAX_PASSWORD_CHARS {
        return Err(AppError::bad_input(
            field,
            PasswordProblem::TooLong.message(),
        ));
    }
    Ok(normalized)
}

/// The key the per-account sign-in limit counts under: the account a name resolved to, so
/// guesses by username and by address share one budget, or else the name itself (folded), so
/// an unknown name is limited exactly like a known one.
pub fn sign_in_key(account: Option<i64>, login: &str) -> String {
    match account {
        Some(user_id) => account_key(user_id),
        None => format!("name:{}", crate::text::fold_identifier(login)),
    }
}

/// The key of an account known already (a password re-check by its signed-in owner).
pub fn account_key(user_id: i64) -> String {
    format!("user:{user_id}")
}

pub fn normalize_password(password: &str) -> String {
    password.nfc().collect()
}

pub const MAX_API_TOKEN_DAYS: i32 = 3650;

/// An API token's label: 1–100 characters, trimmed, no control characters.
pub fn api_token_name(raw: &str) -> Result<String, AppError> {
    crate::text::line("name", raw, 100)
}

/// The most permission names one token may list; there are far fewer permissions than this.
pub const MAX_API_TOKEN_PERMISSIONS: usize = 100;

/// The permission names asked for a token, trimmed, sorted and once each; at least one, at most
/// [`MAX_API_TOKEN_PERMISSIONS`], each a clean name of at most 100 characters (they are looked
/// up in the database next).
pub fn api_token_permissions(raw: &[String]) -> Result<Vec<String>, AppError> {
    if raw.len() > MAX_API_TOKEN_PERMISSIONS {
        return Err(AppError::bad_input(
            "permissions",
            format!("Name at most {MAX_API_TOKEN_PERMISSIONS} permissions"),
        ));
    }
    let mut names = raw
        .iter()
        .map(|name| crate::text::term("permissions", name, 100))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return Err(AppError::bad_input(
            "permissions",
            "Name at least one permission",
        ));
    }
    Ok(names)
}

/// Days until an API token expires; `None` means it does not expire.
pub fn api_token_lifetime(days: Option<i32>) -> Result<Option<chrono::Duration>, AppError> {
    match days {
        None => Ok(None),
        Some(days) if (1..=MAX_API_TOKEN_DAYS).contains(&days) => {
            Ok(Some(chrono::Duration::days(i64::from(days))))
        }
        Some(_) => Err(AppError::bad_input(
            "expiresInDays",
            format!("expiresInDays must be between 1 and {MAX_API_TOKEN_DAYS}"),
        )),
    }
}

/// What an API token may do: the permissions it was created with that its owner still holds.
pub fn token_permissions(granted: Vec<String>, held: &HashSet<String>) -> HashSet<String> {
    granted
        .into_iter()
        .filter(|permission| held.contains(permission))
        .collect()
}

/// Whether a proof of who the user is made at `proved_at` still covers a sensitive change at
/// `now`: younger than `window`. A proof stamped a little ahead (another instance's clock)
/// counts as made now, not as one that never ages.
pub fn proved_recently(
    proved_at: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    window: chrono::Duration,
) -> bool {
    proved_at.is_some_and(|at| (now - at).abs() < window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_covers_changes_within_its_window_only() {
        let proved = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
        let window = chrono::Duration::minutes(10);
        let at = |secs| proved + chrono::Duration::seconds(secs);
        assert!(proved_recently(Some(proved), proved, window));
        assert!(proved_recently(Some(proved), at(599), window));
        assert!(!proved_recently(Some(proved), at(600), window));
        assert!(!proved_recently(Some(proved), at(86_400), window));
        assert!(proved_recently(Some(proved), at(-5), window));
        assert!(!proved_recently(Some(proved), at(-600), window));
        assert!(!proved_recently(None, proved, window));
    }

    #[test]
    fn length_counts_characters_after_nfc() {
        assert_eq!(
            check_new_password("short", &[]),
            Err(PasswordProblem::TooShort)
        );
        // "e" + combining acute is one character after NFC: 7 characters, too short.
        assert_eq!(
            check_new_password("caf\u{0065}\u{0301}abc", &[]),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(
            check_new_password("ñandú-ünïcode", &[]).unwrap(),
            "ñandú-ünïcode"
        );
        assert!(check_new_password(&"x".repeat(256), &[]).is_ok());
        assert_eq!(
            presented_password("password", "pässword").unwrap(),
            "pässword"
        );
        assert!(presented_password("password", &"x".repeat(256)).is_ok());
        assert!(matches!(
            presented_password("password", &"x".repeat(257)),
            Err(AppError::BadUserInput {
                field: "password",
                ..
            })
        ));
        assert_eq!(
            check_new_password(&"x".repeat(257), &[]),
            Err(PasswordProblem::TooLong)
        );
    }

    #[test]
    fn composed_and_decomposed_forms_hash_the_same() {
        assert_eq!(
            normalize_password("Caf\u{00e9} au lait"),
            normalize_password("Cafe\u{0301} au lait")
        );
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        assert_eq!(
            check_new_password("password123", &[]),
            Err(PasswordProblem::TooCommon)
        );
        assert_eq!(
            check_new_password("PASSWORD123", &[]),
            Err(PasswordProblem::TooCommon)
        );
        assert_eq!(
            check_new_password("Qwertyuiop", &[]),
            Err(PasswordProblem::TooCommon)
        );
        assert!(check_new_password("plum-tractor-lantern", &[]).is_ok());
    }

    #[test]
    fn the_accounts_own_names_are_refused_in_any_case_or_width() {
        let identities = ["Ada.Lovelace", "ada@example.com"];
        for same in [
            "ada.lovelace",
            "ADA.LOVELACE",
            "ａｄａ.ｌｏｖｅｌａｃｅ",
            "Ada@Example.com",
        ] {
            assert_eq!(
                check_new_password(same, &identities),
                Err(PasswordProblem::NamesTheAccount),
                "{same}"
            );
        }
        assert!(check_new_password("ada.lovelace!", &identities).is_ok());
    }

    #[test]
    fn sign_in_keys_name_the_account_or_the_folded_name() {
        assert_eq!(
            sign_in_key(Some(7), "ada"),
            sign_in_key(Some(7), "ada@example.com")
        );
        assert_eq!(sign_in_key(None, "ＡＤＡ"), sign_in_key(None, "ada"));
        // A name that looks like an account key stays a name.
        assert_ne!(sign_in_key(None, "user:7"), account_key(7));
    }

    #[test]
    fn spaces_and_symbols_are_kept_not_trimmed() {
        assert_eq!(
            check_new_password("  spaced out  ", &[]).unwrap(),
            "  spaced out  "
        );
    }

    #[test]
    fn api_token_names_and_lifetimes() {
        assert_eq!(api_token_name("  nightly sync ").unwrap(), "nightly sync");
        assert!(api_token_name(" ").is_err());
        assert!(api_token_name(&"n".repeat(101)).is_err());
        assert_eq!(api_token_lifetime(None).unwrap(), None);
        assert_eq!(
            api_token_lifetime(Some(30)).unwrap(),
            Some(chrono::Duration::days(30))
        );
        for bad in [0, -1, MAX_API_TOKEN_DAYS + 1] {
            assert!(api_token_lifetime(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_permissions_are_few_clean_and_once_each() {
        let names = |list: &[&str]| list.iter().map(|name| name.to_string()).collect::<Vec<_>>();
        assert_eq!(
            api_token_permissions(&names(&[" users:read", "audit:read", "users:read"])).unwrap(),
            names(&["audit:read", "users:read"])
        );
        assert!(api_token_permissions(&[]).is_err());
        assert!(api_token_permissions(&names(&["users:read\u{0}"])).is_err());
        let many: Vec<String> = (0..=MAX_API_TOKEN_PERMISSIONS)
            .map(|n| format!("p:{n}"))
            .collect();
        assert!(api_token_permissions(&many[1..]).is_ok());
        assert!(api_token_permissions(&many).is_err());
    }

    #[test]
    fn a_token_keeps_only_what_its_owner_still_holds() {
        let held: HashSet<String> = ["users:read", "roles:manage"].map(String::from).into();
        let granted = ["users:read", "audit:read"].map(String::from).to_vec();
        assert_eq!(
            token_permissions(granted, &held),
            HashSet::from(["users:read".to_owned()])
        );
        assert!(token_permissions(Vec::new(), &held).is_empty());
    }
}
