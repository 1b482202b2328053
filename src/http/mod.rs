//! The HTTP transport: the router and the middleware stack every response passes through.
//! GraphQL over HTTP is in `graphql.rs` (GraphiQL in `graphiql.rs`), subscriptions over WebSocket
//! in `ws.rs`, what the client sent (its address, request id, token, CSRF exposure) in
//! `client.rs`, health and metrics in `probes.rs`, the pages mailed links open in `links.rs`, and
//! the server loop in `server.rs`. Who a token speaks for is decided by
//! `crate::auth::authenticate`, not here.

mod client;
mod graphiql;
mod graphql;
mod links;
mod oidc;
mod probes;
pub mod server;
mod stripe;
mod ws;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::App;
use crate::auth::cookies::CookieNames;
use crate::auth::recovery::Purpose;
use crate::error::code;
use crate::graphql::parsed::ParsedDocuments;
use crate::graphql::persisted::PersistedQueries;
use crate::graphql::{AgoraSchema, build_schema};
use crate::request::ClientRequestId;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const X_REQUEST_ID: &str = "x-request-id";
/// Responses are data, never documents to render or frame.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

#[derive(Clone)]
struct HttpState {
    app: Arc<App>,
    schema: AgoraSchema,
    trusted_proxies: Arc<[IpAddr]>,
    persisted: Arc<PersistedQueries>,
    parsed: Arc<ParsedDocuments>,
    cookies: CookieNames,
}

pub fn router(app: Arc<App>) -> Router {
    let schema = build_schema(&app.config, app.trusted_documents.as_ref())
        .data(app.clone())
        .finish();
    let request_timeout = Duration::from_secs(app.config.request_timeout_secs);
    let cors = cors_layer(&app);
    let trusted_proxies = app.config.trusted_proxies().unwrap_or_default().into();
    let production = app.config.is_production();
    let app_url = app.config.app_url.clone();
    let state = HttpState {
        persisted: Arc::new(PersistedQueries::new(app.redis.clone())),
        parsed: Arc::default(),
        cookies: CookieNames::of(&app.config),
        app,
        schema,
        trusted_proxies,
    };
    let x_request_id = HeaderName::from_static(X_REQUEST_ID);
    // One layer for the whole stack, outermost first. `Router::layer` boxes each layer it is
    // given separately, and axum clones the matched route's service on every request: eleven
    // layers applied one by one were eleven nested boxes cloned and dropped per request, about
    // a third of the server's instructions for `me` (bench/RESULTS.md, step 6).
    let middleware = ServiceBuilder::new()
        .map_request(client::set_client_request_id_apart)
        .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(axum::middleware::from_fn(explain_refusals))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id = request
                .headers()
                .get(X_REQUEST_ID)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            let client_request_id = request
                .extensions()
                .get::<ClientRequestId>()
                .map(|id| id.0.as_str());
            // The empty fields are filled for traces only (`crate::telemetry`).
            let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id, client_request_id, trace_id = tracing::field::Empty, otel.name = tracing::field::Empty, otel.kind = tracing::field::Empty);
            if crate::telemetry::enabled() {
                crate::telemetry::adopt_request(&span, request.method(), request.uri().path(), request.headers());
            }
            span
        }))
        // Production sits behind TLS (the proxy terminates it): browsers must never fall back
        // to plain HTTP. Development serves plain HTTP on localhost, where HSTS would stick.
        .option_layer(production.then(|| {
            SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            )
        }))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            http_error(StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL_SERVER_ERROR, "Internal server error")
        }))
        .layer(axum::middleware::from_fn(move |request: Request, next: axum::middleware::Next| async move {
            tokio::time::timeout(request_timeout, next.run(request))
                .await
                .unwrap_or_else(|_| {
                    http_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        code::SERVICE_UNAVAILABLE,
                        "The request took longer than the server allows; retry it",
                    )
                })
        }))
        .layer(cors);
    let mut router = Router::new();
    if !production {
        router = router.route("/graphiql/{*path}", get(graphiql::asset));
    }
    for purpose in [Purpose::EmailVerify, Purpose::PasswordReset] {
        let path = format!("/{}", purpose.page());
        router = match app_url.clone() {
            None => router.route(&path, get(move || async move { links::page(purpose) })),
            Some(app_url) => router.route(
                &path,
                get(move |request: Request| async move { links::to_app(&app_url, &request) }),
            ),
        };
    }
    router
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/auth/oidc/{provider}/start", get(oidc::start))
        .route("/auth/oidc/{provider}/callback", get(oidc::callback))
        .route("/webhooks/stripe", axum::routing::post(stripe::webhook))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .with_state(state)
        .layer(middleware)
}

/// `/metrics` alone, for the metrics listener (`AGORA_METRICS_LISTEN`): what it tells (operation
/// names, error rates, pool use) is for the operators' scraper, not for the API's clients.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(probes::metrics))
        .with_state(app)
}

fn cors_layer(app: &App) -> CorsLayer {
    let origins: Vec<HeaderValue> = app
        .config
        .cors_origins()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-apollo-operation-name"),
            HeaderName::from_static("apollographql-client-name"),
            HeaderName::from_static("apollographql-client-version"),
        ])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
}

/// A transport-level refusal, shaped like a GraphQL response so clients read it the same way.
fn http_error(status: StatusCode, code: &str, message: &str) -> Response {
    refusal(status, message, json!({ "code": code }))
}

/// A refusal made outside GraphQL: its body is written on the way out by [`explain_refusals`],
/// which knows the request id that every error carries.
#[derive(Clone)]
struct Refusal {
    message: String,
    extensions: serde_json::Value,
}

fn refusal(status: StatusCode, message: &str, extensions: serde_json::Value) -> Response {
    let mut response = status.into_response();
    response.extensions_mut().insert(Refusal {
        message: message.to_owned(),
        extensions,
    });
    response
}

/// The CSP source (`'sha256-…'`) that allows exactly `inline`, a page's own script or style.
fn csp_hash(inline: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(inline));
    format!("'sha256-{hash}'")
}

/// Longer URLs are refused here with an explanation, well below hyper's own limit (64 KiB), past
/// which it answers a bare 414 that never reaches this code.
const MAX_URI_BYTES: usize = 16 * 1024;

/// Gives every error answer made outside GraphQL a JSON body with a code and the request id:
/// the refusals above, and the bare statuses of routing (an unknown path, a method a path does
/// not take).
async fn explain_refusals(request: Request, next: axum::middleware::Next) -> Response {
    // A header value clones without copying; it is read only when an error needs it.
    let request_id = request.headers().get(X_REQUEST_ID).cloned();
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    let mut response = if uri_bytes > MAX_URI_BYTES {
        http_error(
            StatusCode::URI_TOO_LONG,
            code::BAD_REQUEST,
            &format!("The URL is longer than {MAX_URI_BYTES} bytes; send the query in a POST body"),
        )
    } else {
        next.run(request).await
    };
    let bare = response.status().as_u16() >= 400
        && hyper::body::Body::size_hint(response.body()).exact() == Some(0);
    let Refusal {
        message,
        mut extensions,
    } = match response.extensions_mut().remove::<Refusal>() {
        Some(refusal) => refusal,
        None if bare => routing_refusal(response.status()),
        None => return response,
    };
    let request_id = request_id.as_ref().and_then(|id| id.to_str().ok());
    extensions["requestId"] = json!(request_id.unwrap_or_default());
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *response.body_mut() = Body::from(body.to_string());
    response
}

fn routing_refusal(status: StatusCode) -> Refusal {
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            code::NOT_FOUND,
            "Nothing is served at this path; GraphQL is at /graphql".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            code::METHOD_NOT_ALLOWED,
            "This path does not take that method; the Allow header lists those it takes".to_owned(),
        ),
        other => (
            code::BAD_REQUEST,
            other.canonical_reason().unwrap_or("Refused").to_owned(),
        ),
    };
    Refusal {
        message,
        extensions: json!({ "code": code }),
    }
}
