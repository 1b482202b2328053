//! HttpOnly cookies for browser clients (DESIGN.md §3). Scoped to `/graphql`, SameSite=Lax;
//! `Secure` unless turned off for plain-HTTP development.

use async_graphql::Context;
use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};

use crate::config::Config;

pub const ACCESS_COOKIE: &str = "agora_access";
pub const REFRESH_COOKIE: &str = "agora_refresh";
const COOKIE_PATH: &str = "/graphql";

pub fn set_auth_cookies(
    ctx: &Context<'_>,
    config: &Config,
    access: (&str, DateTime<Utc>),
    refresh: (&str, DateTime<Utc>),
) {
    for (name, value, expires_at) in [
        (ACCESS_COOKIE, access.0, access.1),
        (REFRESH_COOKIE, refresh.0, refresh.1),
    ] {
        let max_age = (expires_at - Utc::now()).num_seconds().max(0);
        let cookie = base_cookie(config, name, value.to_owned())
            .max_age(cookie::time::Duration::seconds(max_age));
        ctx.append_http_header(axum::http::header::SET_COOKIE, cookie.to_string());
    }
}

pub fn clear_auth_cookies(ctx: &Context<'_>, config: &Config) {
    for name in [ACCESS_COOKIE, REFRESH_COOKIE] {
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
        .path(COOKIE_PATH)
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
