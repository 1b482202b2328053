//! Pure rules of provider sign-in: where a browser may be sent back to, what a new account is
//! called, and the ID-token checks `openidconnect` leaves to its caller.

use chrono::{DateTime, Duration, Utc};
use unicode_normalization::UnicodeNormalization;
use url::Url;

/// How long a begun sign-in, and a pending link, may take.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);
/// Clock difference tolerated between Agora and a provider, on `exp` and `iat`.
pub const LEEWAY: Duration = Duration::seconds(60);

/// Where the browser goes after the provider: `raw` as an absolute URL on the front end
/// (`front`), or `Err` for anything else: another origin, a scheme-relative `//host`, a
/// backslash that browsers read as a slash, such forms hidden under percent-encoding, a
/// `javascript:` URL. `allowed` are further origins the operator trusts (the CORS list).
pub fn return_to(raw: &str, front: &Url, allowed: &[Url]) -> Option<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        return front.join("/").ok();
    }
    if raw.starts_with('/') {
        if !plain_path(raw) {
            return None;
        }
        let url = front.join(raw).ok()?;
        return (url.origin() == front.origin()).then_some(url);
    }
    let url = Url::parse(raw).ok()?;
    let trusted = std::iter::once(front)
        .chain(allowed)
        .any(|origin| origin.origin() == url.origin());
    let web = matches!(url.scheme(), "http" | "https");
    (web && trusted && url.username().is_empty() && url.password().is_none()).then_some(url)
}

/// A path that stays a path however often it is decoded: one leading slash, no backslash, no
/// control character.
fn plain_path(raw: &str) -> bool {
    let mut text = raw.to_owned();
    for _ in 0..4 {
        let second = text.chars().nth(1);
        if matches!(second, Some('/' | '\\'))
            || text.contains('\\')
            || text.chars().any(char::is_control)
        {
            return false;
        }
        let decoded = percent_decode(&text);
        if decoded == text {
            return true;
        }
        text = decoded;
    }
    // Still changing after four rounds: nobody's real path.
    false
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// The username a new account made by a provider starts from: the provider's preferred
/// username, else the address's local part, else the name, kept to the characters usernames
/// allow, 3 to 24 of them (room for a suffix that makes it unique).
pub fn username_base(preferred: Option<&str>, email: Option<&str>, name: Option<&str>) -> String {
    let local = email.and_then(|email| email.split('@').next());
    let candidates = [preferred, local, name];
    let cleaned = candidates.into_iter().flatten().map(|raw| {
        raw.nfkc()
            .map(|c| if c.is_whitespace() { '.' } else { c })
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            .take(24)
            .collect::<String>()
    });
    cleaned
        .into_iter()
        .find(|name| name.len() >= 3)
        .unwrap_or_else(|| "user".to_owned())
}

/// The `n`th name tried for a new account (`n` from 1): the base, then the base with `-2`,
/// `-3`, ….
pub fn username_candidate(base: &str, n: u32) -> String {
    if n <= 1 {
        base.to_owned()
    } else {
        format!("{base}-{n}")
    }
}

/// OpenID Connect Core 3.1.3.7, steps 4 and 5, which `openidconnect` leaves out: with several
/// audiences the token must name Agora as its authorised party, and a named party must be
/// Agora.
pub fn authorized_party(
    audiences: &[&str],
    azp: Option<&str>,
    client_id: &str,
) -> Result<(), String> {
    match azp {
        Some(party) if party != client_id => Err(format!(
            "the token was issued to {party}, not to this client"
        )),
        None if audiences.len() > 1 => {
            Err("a token for several audiences names no authorised party".to_owned())
        }
        _ => Ok(()),
    }
}

/// Step 10: a token issued in the future, or before the sign-in could have begun, is refused.
pub fn issued_recently(issued: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if issued > now + LEEWAY {
        return Err(format!("the token is issued in the future ({issued})"));
    }
    if issued < now - FLOW_LIFETIME - LEEWAY {
        return Err(format!("the token was issued too long ago ({issued})"));
    }
    Ok(())
}

/// A provider's configured id: what its routes and its identities are keyed by.
pub fn valid_provider_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front() -> Url {
        Url::parse("https://app.example.com").unwrap()
    }

    fn allowed() -> Vec<Url> {
        vec![Url::parse("https://admin.example.com").unwrap()]
    }

    #[test]
    fn paths_and_trusted_origins_are_kept() {
        let accepted = |raw: &str| return_to(raw, &front(), &allowed()).map(String::from);
        assert_eq!(accepted(""), Some("https://app.example.com/".to_owned()));
        assert_eq!(
            accepted("/habits?tab=today#top"),
            Some("https://app.example.com/habits?tab=today#top".to_owned())
        );
        assert_eq!(
            accepted("https://admin.example.com/users"),
            Some("https://admin.example.com/users".to_owned())
        );
        assert_eq!(
            accepted("/a%20b"),
            Some("https://app.example.com/a%20b".to_owned())
        );
    }

    #[test]
    fn every_way_out_is_refused() {
        for raw in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2fevil.example",
            "/%2Fevil.example",
            "/%5cevil.example",
            "/%252f%252fevil.example",
            "%2f%2fevil.example",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "https://app.example.com@evil.example/",
            "https://user:pw@app.example.com/",
            "http://app.example.com/",
            "https://app.example.com.evil.example/",
            "/\tevil",
            "/%09/evil.example",
            "evil.example",
        ] {
            assert_eq!(
                return_to(raw, &front(), &allowed()),
                None,
                "{raw} must be refused"
            );
        }
    }

    #[test]
    fn usernames_come_from_what_the_provider_says() {
        assert_eq!(username_base(Some("ada.l"), Some("x@y.z"), None), "ada.l");
        assert_eq!(
            username_base(None, Some("grace.h@navy.mil"), None),
            "grace.h"
        );
        assert_eq!(
            username_base(Some("é"), None, Some("Ada Lovelace")),
            "Ada.Lovelace"
        );
        assert_eq!(username_base(Some("ｂｏｂｂｙ"), None, None), "bobby");
        assert_eq!(username_base(None, Some("x@y.z"), Some("李")), "user");
        assert_eq!(username_base(Some(&"a".repeat(80)), None, None).len(), 24);
        assert_eq!(username_candidate("ada", 1), "ada");
        assert_eq!(username_candidate("ada", 3), "ada-3");
    }

    #[test]
    fn the_authorised_party_is_checked() {
        assert!(authorized_party(&["agora"], None, "agora").is_ok());
        assert!(authorized_party(&["agora", "other"], Some("agora"), "agora").is_ok());
        assert!(authorized_party(&["agora", "other"], None, "agora").is_err());
        assert!(authorized_party(&["agora"], Some("other"), "agora").is_err());
    }

    #[test]
    fn issue_times_far_from_now_are_refused() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(issued_recently(now, now).is_ok());
        assert!(issued_recently(now + Duration::seconds(30), now).is_ok());
        assert!(issued_recently(now + Duration::minutes(5), now).is_err());
        assert!(issued_recently(now - Duration::minutes(30), now).is_err());
    }

    #[test]
    fn provider_ids_are_slugs() {
        assert!(valid_provider_id("google"));
        assert!(valid_provider_id("azure-ad2"));
        assert!(!valid_provider_id("Google"));
        assert!(!valid_provider_id("a/b"));
        assert!(!valid_provider_id(""));
    }
}
