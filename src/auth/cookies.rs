//! HttpOnly cookies for browser clients (DESIGN.md §3): SameSite=Lax, `Path=/`, no `Domain`.
//!
//! With `Secure` (the default) their names carry the `__Host-` prefix. A browser accepts such a
//! cookie only when it is Secure, for `/` and without a Domain, so no other host of the site (a
//! subdomain, or the same name over plain http) can set or shadow Agora's cookies; a cookie
//! without the prefix is not read at all. That is why they are no longer scoped to `/graphql`:
//! the prefix requires `Path=/`. Browsers also refuse the prefix without `Secure`, so plain-HTTP
//! development (`AGORA_COOKIE_SECURE=false`) uses the bare names.

use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};

use crate::config::Config;

/// The names of the auth cookies under a configuration.
#[derive(Clone, Copy, Debug)]
pub struct CookieNames {
    pub access: &'static str,
    pub refresh: &'static str,
    /// Binds a sign-in begun at an OpenID provider to the browser that began it.
    pub oidc: &'static str,
}

impl CookieNames {
    pub fn of(config: &Config) -> Self {
        if config.cookie_secure {
            Self {
                access: "__Host-agora_access",
                refresh: "__Host-agora_refresh",
                oidc: "__Host-agora_oidc",
            }
        } else {
            Self {
                access: "agora_access",
                refresh: "agora_refresh",
                oidc: "agora_oidc",
            }
        }
    }
}

/// The `Set-Cookie` values that hand a browser its tokens, each living as long as its token
/// from `now`.
pub fn auth_cookies(
    config: &Config,
    access: (&str, DateTime<Utc>),
    refresh: (&str, DateTime<Utc>),
    now: DateTime<Utc>,
) -> [String; 2] {
    let names = CookieNames::of(config);
    [
        (names.access, access.0, access.1),
        (names.refresh, refresh.0, refresh.1),
    ]
    .map(|(name, value, expires_at)| {
        let max_age = (expires_at - now).num_seconds().max(0);
        base_cookie(config, name, value.to_owned())
            .max_age(cookie::time::Duration::seconds(max_age))
            .to_string()
    })
}

/// The `Set-Cookie` values that make a browser forget its tokens.
pub fn cleared_auth_cookies(config: &Config) -> [String; 2] {
    let names = CookieNames::of(config);
    [names.access, names.refresh].map(|name| {
        base_cookie(config, name, String::new())
            .max_age(cookie::time::Duration::ZERO)
            .to_string()
    })
}

/// The `Set-Cookie` value binding a begun provider sign-in to this browser, for as long as
/// such a sign-in may take. `Lax` suffices: the provider's redirect back is a top-level
/// navigation, which carries it.
pub fn oidc_cookie(config: &Config, value: &str, lifetime: chrono::Duration) -> String {
    base_cookie(config, CookieNames::of(config).oidc, value.to_owned())
        .max_age(cookie::time::Duration::seconds(lifetime.num_seconds()))
        .to_string()
}

fn base_cookie(
    config: &Config,
    name: &'static str,
    value: String,
) -> cookie::CookieBuilder<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .secure(config.cookie_secure)
        .same_site(SameSite::Lax)
        .path("/")
}

/// The value of cookie `name` among a request's `Cookie` headers.
pub fn read_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}
