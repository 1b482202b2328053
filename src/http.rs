//! HTTP transport: GraphQL over HTTP (POST JSON; GET for queries only), GraphiQL in development,
//! health probes, and the middleware every response passes through.
//!
//! async-graphql-axum's extractor would parse any body as JSON, run mutations sent by GET and
//! skip axum's body limit, so this module reads and checks requests itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, ServerError, Value};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Body;
use axum::extract::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, request::Parts};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::App;
use crate::auth::cookies::{CookieNames, read_cookie};
use crate::auth::store::{live_api_token, live_session, touch_api_token, touch_session};
use crate::auth::tokens::{API_TOKEN_PREFIX, digest};
use crate::db;
use crate::error::{AppError, code};
use crate::graphql::input_limits;
use crate::graphql::parsed::ParsedDocuments;
use crate::graphql::persisted::{Lookup, PersistedQueries};
use crate::graphql::{self, AgoraSchema, Viewer, build_schema, set_code};
use crate::ratelimit::{Backend, Guarded};
use crate::request::RequestInfo;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const X_REQUEST_ID: &str = "x-request-id";
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
/// Headers a browser cannot send cross-site without a CORS preflight (Apollo's CSRF defence).
const PREFLIGHT_HEADERS: [&str; 2] = ["apollo-require-preflight", "x-apollo-operation-name"];
/// Responses are data, never documents to render or frame.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// GraphiQL (development only): React and GraphiQL at pinned versions from unpkg, checked by their
/// subresource integrity, and one inline bootstrap script allowed by its hash.
const GRAPHIQL_PAGE: &str = include_str!("graphiql.html");
static GRAPHIQL_CSP: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine;
    use sha2::Digest;
    let (_, after_open) = GRAPHIQL_PAGE
        .rsplit_once("<script>")
        .expect("an inline script");
    let (bootstrap, _) = after_open.split_once("</script>").expect("a closed script");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bootstrap));
    format!(
        "default-src 'self'; script-src 'sha256-{hash}' https://unpkg.com; \
         style-src 'self' 'unsafe-inline' https://unpkg.com; font-src 'self' data:; img-src 'self' data:; \
         connect-src 'self' ws: wss:; frame-ancestors 'none'"
    )
});
/// Sessions are marked as used at most this often, so most authenticated requests only read.
const SESSION_TOUCH_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

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
    let schema = build_schema(&app.config).data(app.clone()).finish();
    let request_timeout = Duration::from_secs(app.config.request_timeout_secs);
    let cors = cors_layer(&app);
    let trusted_proxies = app.config.trusted_proxies().unwrap_or_default().into();
    let production = app.config.is_production();
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
        .map_request(set_client_request_id_apart)
        .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(x_request_id))
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
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id, client_request_id)
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
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(middleware)
}

/// The `x-request-id` a client sent, kept apart from the request id, which the server always
/// makes itself: a client could otherwise choose the id its requests are logged and audited
/// under (and collide with, or forge, another's).
#[derive(Clone, Debug)]
pub struct ClientRequestId(pub String);

/// Longest client request id kept; longer ones are dropped, not cut (a cut id correlates with
/// nothing).
const MAX_CLIENT_REQUEST_ID_CHARS: usize = 128;

/// Moves the client's `x-request-id` out of the headers (so `SetRequestIdLayer` always makes
/// ours) into a [`ClientRequestId`], if it is at most 128 visible ASCII characters.
fn set_client_request_id_apart(mut request: Request) -> Request {
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

async fn graphql_post(State(state): State<HttpState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(refusal) = csrf_refusal(&parts.headers, state.cookies) {
        return refusal;
    }
    if !is_json(&parts.headers) {
        return http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            "Send GraphQL requests as Content-Type: application/json",
        );
    }
    // A body declared too large is refused before any of it is read.
    if declared_length(&parts.headers).is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return body_too_large();
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) if is_length_limit(&error) => return body_too_large(),
        Err(_) => {
            return http_error(
                StatusCode::BAD_REQUEST,
                code::BAD_REQUEST,
                "Could not read the request body",
            );
        }
    };
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[') {
        return http_error(
            StatusCode::BAD_REQUEST,
            code::BAD_REQUEST,
            "Batched requests are not supported",
        );
    }
    if let Err(message) = input_limits::check_json(&bytes) {
        return http_error(StatusCode::BAD_REQUEST, code::BAD_REQUEST, &message);
    }
    match serde_json::from_slice::<async_graphql::Request>(&bytes) {
        Ok(mut request) => {
            let lookup = state.persisted.resolve(&mut request).await;
            if let Err(message) = input_limits::check_document(&request.query) {
                return document_too_large(&message);
            }
            state.parsed.prime(&mut request);
            execute(&state, &mut parts, request, lookup).await
        }
        Err(_) => http_error(
            StatusCode::BAD_REQUEST,
            code::BAD_REQUEST,
            "The body must be a JSON object with a \"query\" string, and optional \"variables\" and \"operationName\"",
        ),
    }
}

async fn graphql_get(State(state): State<HttpState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let query_string = parts.uri.query().unwrap_or_default();
    if query_string.is_empty() && !state.app.config.is_production() && accepts_html(&parts.headers)
    {
        return (
            [(header::CONTENT_SECURITY_POLICY, GRAPHIQL_CSP.as_str())],
            Html(GRAPHIQL_PAGE),
        )
            .into_response();
    }
    let mut request = match get_request(query_string) {
        Ok(request) => request,
        Err(message) => return http_error(StatusCode::BAD_REQUEST, code::BAD_REQUEST, &message),
    };
    let lookup = state.persisted.resolve(&mut request).await;
    if let Err(message) = input_limits::check_document(&request.query) {
        return document_too_large(&message);
    }
    state.parsed.prime(&mut request);
    if lookup.is_ok()
        && selected_operation_type(&mut request).is_some_and(|kind| kind != OperationType::Query)
    {
        let mut response = http_error(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            "Only queries may be sent with GET; send mutations with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if let Some(refusal) = csrf_refusal(&parts.headers, state.cookies) {
        return refusal;
    }
    execute(&state, &mut parts, request, lookup).await
}

/// GET parameters as GraphQL over HTTP names them. (async-graphql's `parse_query_string` expects
/// `operation_name`, so a spec-following client's `operationName` would be dropped.)
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    /// Empty when the query is named by its persisted hash in `extensions`.
    #[serde(default)]
    query: String,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// The request a GET names, or why it names none.
fn get_request(query_string: &str) -> Result<async_graphql::Request, String> {
    let unusable = || {
        "GET requests need a \"query\" parameter (and optional \"variables\" JSON and \"operationName\")"
            .to_owned()
    };
    let params: GetParams = serde_urlencoded::from_str(query_string).map_err(|_| unusable())?;
    if params.query.trim().is_empty() && params.extensions.is_none() {
        return Err(unusable());
    }
    let mut request = async_graphql::Request::new(params.query);
    if let Some(name) = params.operation_name.filter(|name| !name.is_empty()) {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables {
        input_limits::check_json(variables.as_bytes())?;
        request = request.variables(serde_json::from_str(&variables).map_err(|_| unusable())?);
    }
    if let Some(extensions) = params.extensions {
        input_limits::check_json(extensions.as_bytes())?;
        request.extensions = serde_json::from_str(&extensions).map_err(|_| unusable())?;
    }
    Ok(request)
}

/// GraphQL subscriptions over WebSocket (graphql-transport-ws, and the older graphql-ws).
/// Browsers cannot set headers on a WebSocket, so the access or API token comes in the
/// `connection_init` payload as `{"Authorization": "Bearer ..."}`; an invalid one closes the
/// connection, a missing one leaves it anonymous.
async fn graphql_ws(
    State(state): State<HttpState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let info = request_info(&mut parts, &state).await;
    let cookie_token = read_cookie(&parts.headers, state.cookies.access)
        .filter(|_| websocket_origin_allowed(&parts.headers, &state.app.config));
    // A socket message is parsed by async-graphql as it arrives, with no chance to scan it
    // first: bound it as the HTTP body is (the default allows 64 MiB).
    upgrade
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let sockets = state.app.sockets.clone();
            sockets.track_future(serve_socket(state, protocol, info, cookie_token, socket))
        })
}

/// Browsers send cookies with a WebSocket upgrade from any site and apply no CORS to it, so the
/// access cookie counts only when the page that opened the socket is this server's own origin
/// or one of `AGORA_CORS_ORIGINS` (no cross-site WebSocket hijacking).
fn websocket_origin_allowed(headers: &HeaderMap, config: &crate::config::Config) -> bool {
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let origin = url.origin().ascii_serialization();
    let same_origin = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| origin == format!("{}://{host}", url.scheme()));
    same_origin || config.cors_origins().any(|allowed| allowed == origin)
}

/// Runs one subscription socket until either side ends it. When the server begins to shut down,
/// the message being sent is finished, then the socket is closed with 1001 (going away), so
/// clients reconnect, to another instance behind the balancer.
async fn serve_socket(
    state: HttpState,
    protocol: GraphQLProtocol,
    info: RequestInfo,
    cookie_token: Option<String>,
    socket: axum::extract::ws::WebSocket,
) {
    use axum::extract::ws::{CloseFrame, Message, close_code};
    use futures_util::{SinkExt, StreamExt};

    let app = state.app.clone();
    let mut stopping = app.stopping.subscribe();
    let mut stopping_input = app.stopping.subscribe();
    let (mut to_client, from_client) = socket.split();
    let from_client = from_client.take_until(async move {
        let _ = stopping_input.wait_for(|stop| *stop).await;
    });
    let (outgoing, mut queued) = futures_channel::mpsc::channel::<Message>(16);
    // graphql-transport-ws allows one connection_init per socket, so the token is set once.
    let viewer_token = Arc::new(std::sync::OnceLock::<String>::new());
    let init_app = app.clone();
    let init_token = viewer_token.clone();
    let graphql = GraphQLWebSocket::new_with_pair(outgoing, from_client, state.schema, protocol)
        .on_connection_init(move |payload| async move {
            let (data, token) = connection_data(&init_app, info, cookie_token, &payload).await?;
            if let Some(token) = token {
                let _ = init_token.set(token);
            }
            Ok(data)
        })
        .serve();
    let period = Duration::from_secs(app.config.socket_recheck_secs.max(1));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let deliver = async move {
        loop {
            tokio::select! {
                // The guard `wait_for` returns must not live across a send.
                () = async { drop(stopping.wait_for(|stop| *stop).await) } => break,
                message = queued.next() => {
                    // The queue also ends when shutdown ended the GraphQL side first.
                    let Some(message) = message else { break };
                    if to_client.send(message).await.is_err() {
                        return;
                    }
                }
                _ = recheck.tick() => {
                    let Some(token) = viewer_token.get() else { continue };
                    // A database error is no proof the session ended: the next check decides.
                    if let Ok(None) = authenticate_token(&app, token).await {
                        let _ = to_client
                            .send(Message::Close(Some(CloseFrame {
                                code: 4403,
                                reason: "session ended or token expired".into(),
                            })))
                            .await;
                        return;
                    }
                }
            }
        }
        if *stopping.borrow() {
            let _ = to_client
                .send(Message::Close(Some(CloseFrame {
                    code: close_code::AWAY,
                    reason: "server shutting down".into(),
                })))
                .await;
        }
    };
    tokio::join!(graphql, deliver);
}

/// The socket's viewer: from `connection_init`'s `Authorization` (refused when it does not
/// authenticate), else from the access cookie of the upgrade (anonymous when it has expired, as
/// on HTTP). Also the token it was found by, which the socket checks again while it is open.
async fn connection_data(
    app: &App,
    info: RequestInfo,
    cookie_token: Option<String>,
    payload: &serde_json::Value,
) -> async_graphql::Result<(Data, Option<String>)> {
    let header = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(serde_json::Value::as_str));
    let mut data = Data::default();
    graphql::insert_loaders(&mut data, &app.pool);
    data.insert(info);
    let (viewer, token) = match (header, cookie_token) {
        (Some(header), _) => {
            let token = bearer_token(header).ok_or(AppError::Unauthenticated)?;
            let viewer = authenticate_token(app, &token).await?;
            (Some(viewer.ok_or(AppError::Unauthenticated)?), token)
        }
        (None, Some(token)) => (authenticate_token(app, &token).await?, token),
        (None, None) => return Ok((data, None)),
    };
    let Some(viewer) = viewer else {
        return Ok((data, None));
    };
    data.insert(viewer);
    Ok((data, Some(token)))
}

/// The operation's name as the client gave it, or as its document names its only operation.
fn operation_name(request: &mut async_graphql::Request) -> Option<String> {
    if let Some(name) = &request.operation_name {
        return Some(name.clone());
    }
    let document = request.parsed_query().ok()?;
    let mut operations = document.operations.iter();
    let (name, _) = operations.next()?;
    if operations.next().is_some() {
        return None;
    }
    name.map(|name| name.to_string())
}

/// The type of the operation the request would run, if its document parses and the operation
/// is unambiguous.
fn selected_operation_type(request: &mut async_graphql::Request) -> Option<OperationType> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match name {
        Some(name) => document
            .operations
            .iter()
            .find(|(op_name, _)| op_name.map(|n| n.as_str()) == Some(name.as_str()))?,
        None => {
            let mut operations = document.operations.iter();
            let only = operations.next()?;
            if operations.next().is_some() {
                return None;
            }
            only
        }
    };
    Some(operation.1.node.ty)
}

/// Runs a request whose persisted query (if any) was already looked up, logs it and counts it.
async fn execute(
    state: &HttpState,
    parts: &mut Parts,
    mut request: async_graphql::Request,
    lookup: Result<Lookup, ServerError>,
) -> Response {
    let started = Instant::now();
    let request_id = parts
        .headers
        .get(X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let wants_graphql_response = accepts(&parts.headers, GRAPHQL_RESPONSE_JSON);
    let info = request_info(parts, state).await;
    if let Err(AppError::RateLimited { retry_after_secs }) = state
        .app
        .limits
        .check(Guarded::Request, info.ip.as_deref().unwrap_or_default())
        .await
    {
        return too_many_requests(retry_after_secs);
    }
    let operation_name = operation_name(&mut request);
    let mut user_id = None;
    let mut response = match (lookup, request.parsed_query()) {
        (Err(error), _) => async_graphql::Response::from_errors(vec![error]),
        (Ok(_), Err(error)) => {
            let mut error = error.clone();
            set_code(&mut error, code::GRAPHQL_PARSE_FAILED);
            async_graphql::Response::from_errors(vec![error])
        }
        (Ok(lookup), Ok(_)) => {
            if let Lookup::Resolved { hash, is_new: true } = lookup {
                state.persisted.remember(hash, &request.query).await;
            }
            match authenticate(state, &parts.headers).await {
                Ok(viewer) => {
                    request = graphql::with_loaders(request.data(info), &state.app.pool);
                    if let Some(viewer) = viewer {
                        user_id = Some(viewer.user_id);
                        request = request.data(viewer);
                    }
                    state.schema.execute(request).await
                }
                Err(error) => async_graphql::Response::from_errors(vec![
                    async_graphql::Error::from(error).into_server_error(Default::default()),
                ]),
            }
        }
    };
    label_errors(&mut response, &request_id);
    let outcome = response
        .errors
        .first()
        .and_then(|error| error.extensions.as_ref()?.get("code"))
        .and_then(|code| match code {
            Value::String(code) => Some(code.as_str()),
            _ => None,
        })
        .unwrap_or("ok");
    let elapsed = started.elapsed();
    crate::metrics::request_finished(operation_name.as_deref(), outcome, elapsed);
    tracing::info!(
        request_id,
        operation = operation_name.as_deref().unwrap_or(""),
        user_id,
        outcome,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "graphql request"
    );
    // Errors raised before execution began (parse, validation, credentials, persisted-query
    // lookup) have no path; an error from a field, even one that nulls the whole result, has one.
    let before_execution = response.is_err()
        && response.data == Value::Null
        && response.errors.iter().all(|error| error.path.is_empty());
    let status = if wants_graphql_response && before_execution {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let content_type = if wants_graphql_response {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    };
    // Nothing ran, so there is no `data` entry at all (GraphQL's response format).
    let body = if before_execution {
        serde_json::to_vec(&json!({ "errors": response.errors }))
    } else {
        serde_json::to_vec(&response)
    }
    .unwrap_or_else(|_| b"{}".to_vec());
    let mut http_response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    http_response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in response.http_headers.iter() {
        http_response.headers_mut().append(name, value.clone());
    }
    http_response
}

/// The viewer behind the request's access token (Bearer header first, then cookie), checked
/// against its session row. A missing, invalid, expired or revoked token makes the request
/// anonymous; resolvers that need a viewer then answer UNAUTHENTICATED.
async fn authenticate(state: &HttpState, headers: &HeaderMap) -> Result<Option<Viewer>, AppError> {
    let token = match headers.get(header::AUTHORIZATION) {
        Some(value) => value.to_str().ok().and_then(bearer_token),
        None => read_cookie(headers, state.cookies.access),
    };
    match token {
        Some(token) => authenticate_token(&state.app, &token).await,
        None => Ok(None),
    }
}

fn bearer_token(value: &str) -> Option<String> {
    value
        .strip_prefix("Bearer ")
        .map(|token| token.trim().to_owned())
}

/// The viewer an access token or API token speaks for, if it is still valid.
async fn authenticate_token(app: &App, token: &str) -> Result<Option<Viewer>, AppError> {
    if token.starts_with(API_TOKEN_PREFIX) {
        return authenticate_api_token(app, token).await;
    }
    let now = app.clock.now();
    let Some(subject) = app.tokens.verify_access(token, now) else {
        return Ok(None);
    };
    let mut conn = db::conn(&app.pool).await?;
    let Some(session) = live_session(
        &mut conn,
        subject.user_id,
        subject.session_id,
        app.config.session_idle_secs,
        now,
    )
    .await?
    else {
        return Ok(None);
    };
    if now - session.last_seen_at > SESSION_TOUCH_INTERVAL {
        touch_session(&mut conn, subject.session_id, now).await?;
    }
    let permissions = app
        .permission_sets
        .of(&mut conn, subject.user_id, session.rbac_epoch)
        .await?;
    Ok(Some(Viewer {
        user_id: subject.user_id,
        session_id: Some(subject.session_id),
        api_token_id: None,
        permissions,
        time_zone: parse_time_zone(&session.user.time_zone),
        account: session.user,
    }))
}

async fn authenticate_api_token(app: &App, token: &str) -> Result<Option<Viewer>, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let Some(live) = live_api_token(&mut conn, &digest(token), now).await? else {
        return Ok(None);
    };
    let stale = live
        .last_used_at
        .is_none_or(|used| now - used > SESSION_TOUCH_INTERVAL);
    if stale {
        touch_api_token(&mut conn, live.token_id, now).await?;
    }
    let held = app
        .permission_sets
        .of(&mut conn, live.user.id, live.rbac_epoch)
        .await?;
    Ok(Some(Viewer {
        user_id: live.user.id,
        session_id: None,
        api_token_id: Some(live.token_id),
        permissions: std::sync::Arc::new(crate::auth::rules::token_permissions(
            live.granted,
            &held,
        )),
        time_zone: parse_time_zone(&live.user.time_zone),
        account: live.user,
    }))
}

/// Stored zones were validated when set; a name a newer tz database dropped falls back to UTC
/// rather than locking the user out.
fn parse_time_zone(name: &str) -> chrono_tz::Tz {
    name.parse().unwrap_or(chrono_tz::Tz::UTC)
}

async fn request_info(parts: &mut Parts, state: &HttpState) -> RequestInfo {
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
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted_proxies: &[IpAddr]) -> IpAddr {
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

/// Every error leaves with a code and the request id. Errors async-graphql raises itself carry
/// no code: before execution (no path) they are validation failures; during execution they come
/// from coercing the caller's input.
fn label_errors(response: &mut async_graphql::Response, request_id: &str) {
    let executed = response.data != Value::Null;
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            let fallback = if !executed && error.path.is_empty() {
                code::GRAPHQL_VALIDATION_FAILED
            } else {
                code::BAD_USER_INPUT
            };
            set_code(error, fallback);
        }
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("requestId", request_id);
    }
}

/// A browser can send cookies cross-site with a "simple" request (no preflight): no content
/// type, or text/plain, form-urlencoded or multipart, and no custom header. Such a request that
/// carries our cookies is refused before anything runs.
fn csrf_refusal(headers: &HeaderMap, cookies: CookieNames) -> Option<Response> {
    let uses_cookies = !headers.contains_key(header::AUTHORIZATION)
        && (read_cookie(headers, cookies.access).is_some()
            || read_cookie(headers, cookies.refresh).is_some());
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

fn media_type(headers: &HeaderMap) -> Option<String> {
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

fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|media| media == "application/json")
}

fn accepts(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            value
                .split(',')
                .any(|item| item.split(';').next().unwrap_or_default().trim() == media)
        })
}

fn accepts_html(headers: &HeaderMap) -> bool {
    accepts(headers, "text/html")
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// The whole request refused for its client's budget: 429 with `Retry-After`.
fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests; slow down",
        json!({ "code": code::RATE_LIMITED, "retryAfter": retry_after_secs }),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

fn body_too_large() -> Response {
    document_too_large("Request body exceeds 1 MiB")
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn document_too_large(message: &str) -> Response {
    http_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::PAYLOAD_TOO_LARGE,
        message,
    )
}

/// A transport-level refusal, shaped like a GraphQL response so clients read it the same way.
fn http_error(status: StatusCode, code: &str, message: &str) -> Response {
    refusal(status, message, json!({ "code": code }))
}

fn refusal(status: StatusCode, message: &str, extensions: serde_json::Value) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body.to_string()),
    )
        .into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// Not ready without the database (nothing works). Ready but "degraded" while a configured
/// Redis is unreachable: requests still succeed, with limits and events kept per instance.
async fn readyz(State(state): State<HttpState>) -> Response {
    let app = &state.app;
    let check = async {
        let mut conn = app.pool.get().await.ok()?;
        db::migrations_applied(&mut conn).await.ok()
    };
    let redis_down = async {
        match &app.redis {
            None => false,
            Some(redis) => !redis.ping().await,
        }
    };
    let (database, redis_down) = tokio::join!(check, redis_down);
    let (status, database, migrations) = match database {
        Some(true) => (StatusCode::OK, "ok", "applied"),
        Some(false) => (StatusCode::SERVICE_UNAVAILABLE, "ok", "pending"),
        None => (StatusCode::SERVICE_UNAVAILABLE, "unreachable", "unknown"),
    };
    let redis = match (&app.redis, redis_down) {
        (None, _) => "off",
        (Some(_), false) => "ok",
        (Some(_), true) => "unreachable",
    };
    let rate_limits = match app.limits.backend() {
        Backend::Local => "local",
        Backend::Redis if !redis_down => "redis",
        Backend::Redis | Backend::Degraded => "degraded",
    };
    let summary = match (status == StatusCode::OK, redis_down) {
        (false, _) => "not_ready",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    (
        status,
        axum::Json(json!({
            "status": summary,
            "database": database,
            "migrations": migrations,
            "redis": redis,
            "rateLimits": rate_limits,
        })),
    )
        .into_response()
}

async fn metrics(State(state): State<HttpState>) -> Response {
    match crate::metrics::render(&state.app).await {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
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
