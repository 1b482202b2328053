//! HttpOnly cookies for browser clients (DESIGN.md §3): SameSite=Lax, `Path=/`, no `Domain`.
//!
//! With `Secure` (the default) their names carry the `__Host-` prefix. A browser accepts such a
//! cookie only when it is Secure, for `/` and without a Domain, so no other host of the site (a
//! subdomain, or the same name over plain http) can set or shadow Agora's cookies; a cookie
//! without the prefix is not read at all. That is why they are no longer scoped to `/graphql`:
//! the prefix requires `Path=/`. Browsers also refuse the prefix without `Secure`, so plain-HTTP
//! development (`AGORA_COOKIE_SECURE=false`) uses the bare names.

use async_graphql::Context;
use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};

use crate::config::Config;

/// The names of the auth cookies under a configuration.
#[derive(Clone, Copy, Debug)]
pub struct CookieNames {
    pub access: &'static str,
    pub refresh: &'static str,
}

impl CookieNames {
    pub fn of(config: &Config) -> Self {
        if config.cookie_secure {
            Self {
                access: "__Host-agora_access",
                refresh: "__Host-agora_refresh",
            }
        } else {
            Self {
                access: "agora_access",
                refresh: "agora_refresh",
            }
        }
    }
}

pub fn set_auth_cookies(
    ctx: &Context<'_>,
    config: &Config,
    access: (&str, DateTime<Utc>),
    refresh: (&str, DateTime<Utc>),
) {
    let names = CookieNames::of(config);
    for (name, value, expires_at) in [
        (names.access, access.0, access.1),
        (names.refresh, refresh.0, refresh.1),
    ] {
        let max_age = (expires_at - Utc::now()).num_seconds().max(0);
        let cookie = base_cookie(config, name, value.to_owned())
            .max_age(cookie::time::Duration::seconds(max_age));
        ctx.append_http_header(axum::http::header::SET_COOKIE, cookie.to_string());
    }
}

pub fn clear_auth_cookies(ctx: &Context<'_>, config: &Config) {
    let names = CookieNames::of(config);
    for name in [names.access, names.refresh] {
        let cookie = base_cookie(config, name, String::new()).max_age(cookie::time::Duration::ZERO);
        ctx.append_http_header(axum::http::header::SET_COOKIE, cookie.to_string());
    }
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
