//! What the client sent, read off the HTTP request: its address (believing `X-Forwarded-For`
//! only from trusted proxies), its request id, its token (header or cookie), and whether a
//! cookie-carrying request could have been forged cross-site. Builds the [`RequestInfo`] that
//! domains record.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap};
use axum::http::request::Parts;
use axum::response::Response;

use super::{HttpState, X_REQUEST_ID, http_error};
use crate::auth::cookies::{CookieNames, read_cookie};
use crate::error::code;
use crate::request::{ClientRequestId, RequestInfo};

/// Headers a browser cannot send cross-site without a CORS preflight (Apollo's CSRF defence).
const PREFLIGHT_HEADERS: [&str; 2] = ["apollo-require-preflight", "x-apollo-operation-name"];

/// Longest client request id kept; longer ones are dropped, not cut (a cut id correlates with
/// nothing).
const MAX_CLIENT_REQUEST_ID_CHARS: usize = 128;

/// Moves the client's `x-request-id` out of the headers (so `SetRequestIdLayer` always makes
/// ours) into a [`ClientRequestId`], if it is at most 128 visible ASCII characters.
pub(super) fn set_client_request_id_apart(mut request: Request) -> Request {
    let sent = request.headers_mut().remove(X_REQUEST_ID);
    let usable = sent.filter(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_CLIENT_REQUEST_ID_CHARS
            && bytes.iter().all(u8::is_ascii_graphic)
    });
    if let Some(value) = usable.and_then(|value| value.to_str().ok().map(str::to_owned)) {
        request.extensions_mut().insert(ClientRequestId(value));
    }
    request
}

/// The access or API token the request came with: the `Authorization: Bearer` header first,
/// else the access cookie. A header that is not a bearer token means no token (not the cookie).
pub(super) fn access_token(headers: &HeaderMap, cookies: CookieNames) -> Option<String> {
    match headers.get(header::AUTHORIZATION) {
        Some(value) => value.to_str().ok().and_then(bearer_token),
        None => read_cookie(headers, cookies.access),
    }
}

pub(super) fn bearer_token(value: &str) -> Option<String> {
    value
        .strip_prefix("Bearer ")
        .map(|token| token.trim().to_owned())
}

/// What domains record about this request: the client's address (see [`client_ip`]), its user
/// agent, the refresh cookie, and both request ids.
pub(super) async fn request_info(parts: &mut Parts, state: &HttpState) -> RequestInfo {
    let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, &())
        .await
        .ok();
    let forwarded_for = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    RequestInfo {
        ip: peer.map(|ConnectInfo(address)| {
            client_ip(address.ip(), &forwarded_for, &state.trusted_proxies).to_string()
        }),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(512).collect()),
        refresh_cookie: read_cookie(&parts.headers, state.cookies.refresh),
        oidc_cookie: read_cookie(&parts.headers, state.cookies.oidc),
        request_id: parts
            .headers
            .get(X_REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        client_request_id: parts
            .extensions
            .get::<ClientRequestId>()
            .map(|id| id.0.clone()),
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left
/// were written by the client and prove nothing).
fn client_ip(peer: IpAddr, forwarded_for: &str, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for.rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(address) => {
                client = address;
                if !trusted_proxies.contains(&address) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// A browser can send cookies cross-site with a "simple" request (no preflight): no content
/// type, or text/plain, form-urlencoded or multipart, and no custom header. Such a request that
/// carries our cookies is refused before anything runs.
pub(super) fn csrf_refusal(headers: &HeaderMap, cookies: CookieNames) -> Option<Response> {
    let uses_cookies = !headers.contains_key(header::AUTHORIZATION)
        && (read_cookie(headers, cookies.access).is_some()
            || read_cookie(headers, cookies.refresh).is_some()
            || read_cookie(headers, cookies.oidc).is_some());
    if !uses_cookies {
        return None;
    }
    let has_preflight_header = PREFLIGHT_HEADERS
        .iter()
        .any(|name| headers.get(*name).is_some_and(|value| !value.is_empty()));
    let simple_content_type = match media_type(headers) {
        None => true,
        Some(media) => matches!(
            media.as_str(),
            "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data"
        ),
    };
    (simple_content_type && !has_preflight_header).then(|| {
        http_error(
            StatusCode::BAD_REQUEST,
            code::BAD_REQUEST,
            "This request carries cookies but could have been sent cross-site: use Content-Type: application/json, or send an apollo-require-preflight header",
        )
    })
}

pub(super) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

#[cfg(test)]
mod tests {
    use super::client_ip;
    use std::net::IpAddr;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            client_ip(ip("203.0.113.9"), "1.2.3.4", &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), "198.51.100.7", &proxies),
            ip("198.51.100.7")
        );
        // A client-supplied entry on the left is ignored; proxies on the right are skipped.
        assert_eq!(
            client_ip(ip("10.0.0.1"), "6.6.6.6, 198.51.100.7, 10.0.0.2", &proxies),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), "", &proxies), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), "garbage", &proxies),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), "2001:db8::1", &proxies),
            ip("2001:db8::1")
        );
    }
}
