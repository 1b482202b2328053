//! GraphQL over HTTP: POST with a JSON body, GET for queries only (and GraphiQL in
//! development), checked here before anything parses them; then one execution with the
//! caller's viewer, and the answer shaped as the GraphQL-over-HTTP spec asks (status, media
//! type, error codes with the request id).
//!
//! async-graphql-axum's extractor would parse any body as JSON, run mutations sent by GET and
//! skip axum's body limit, so this module reads and checks requests itself.

use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Value};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{HttpState, MAX_BODY_BYTES, X_REQUEST_ID, client, graphiql, http_error, refusal};
use crate::auth::authenticate;
use crate::budgets;
use crate::error::{AppError, code};
use crate::graphql::input_limits;
use crate::graphql::persisted::Lookup;
use crate::graphql::trusted;
use crate::graphql::{set_code, with_loaders};
use crate::ratelimit::Guarded;
use crate::request::RequestInfo;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

pub(super) async fn post(State(state): State<HttpState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(refusal) = client::csrf_refusal(&parts.headers, state.cookies) {
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
            let lookup = admit(&state, &parts.headers, &mut request).await;
            if let Err(message) = input_limits::check_document(&request.query) {
                return document_too_large(&message);
            }
            if lookup.is_ok() {
                state.parsed.prime(&mut request);
            }
            execute(&state, &mut parts, request, lookup).await
        }
        Err(_) => http_error(
            StatusCode::BAD_REQUEST,
            code::BAD_REQUEST,
            "The body must be a JSON object with a \"query\" string, and optional \"variables\" and \"operationName\"",
        ),
    }
}

pub(super) async fn get(State(state): State<HttpState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let query_string = parts.uri.query().unwrap_or_default();
    if query_string.is_empty() && !state.app.config.is_production() && accepts_html(&parts.headers)
    {
        return graphiql::page();
    }
    let mut request = match get_request(query_string) {
        Ok(request) => request,
        Err(message) => return http_error(StatusCode::BAD_REQUEST, code::BAD_REQUEST, &message),
    };
    let lookup = admit(&state, &parts.headers, &mut request).await;
    if let Err(message) = input_limits::check_document(&request.query) {
        return document_too_large(&message);
    }
    if lookup.is_ok() {
        state.parsed.prime(&mut request);
    }
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
    if let Some(refusal) = client::csrf_refusal(&parts.headers, state.cookies) {
        return refusal;
    }
    execute(&state, &mut parts, request, lookup).await
}

/// The request's persisted query looked up. With trusted documents on, its document is judged
/// first, before anything parses it: one outside the manifest goes on only for a caller holding
/// `documents:any`.
async fn admit(
    state: &HttpState,
    headers: &HeaderMap,
    request: &mut async_graphql::Request,
) -> Result<Lookup, ServerError> {
    if let Some(trusted) = &state.app.trusted_documents {
        let trusted = trusted.admit(request);
        if !trusted {
            let viewer = match client::access_token(headers, state.cookies) {
                Some(token) => authenticate::viewer(&state.app, &token, state.app.clock.now())
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            if !trusted::may_send_any(viewer.as_ref()) {
                return Err(trusted::not_in_list());
            }
        }
        request.data.insert(trusted::Admitted);
        if trusted {
            // Its text came from (or matched) the manifest: nothing to look up or remember.
            return Ok(Lookup::None);
        }
    }
    state.persisted.resolve(request).await
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
    let info = client::request_info(parts, state).await;
    if let Err(AppError::RateLimited { retry_after_secs }) = state
        .app
        .limits
        .check(Guarded::Request, info.ip.as_deref().unwrap_or_default())
        .await
    {
        return too_many_requests(retry_after_secs);
    }
    // A refused request is not parsed, not even for its name.
    let operation_name = match &lookup {
        Ok(_) => operation_name(&mut request),
        Err(_) => request.operation_name.clone(),
    };
    let trace_id = if crate::telemetry::enabled() {
        let kind = match &lookup {
            Ok(_) => selected_operation_type(&mut request).map(|kind| kind.to_string()),
            Err(_) => None,
        };
        crate::telemetry::name_operation(kind.as_deref(), operation_name.as_deref())
    } else {
        None
    };
    let (mut response, user_id) = match run(state, &parts.headers, request, lookup, info).await {
        Ok(ran) => ran,
        Err(Refused { retry_after_secs }) => return too_many_requests(retry_after_secs),
    };
    label_errors(&mut response, &request_id, trace_id.as_deref());
    let outcome = response
        .errors
        .first()
        .and_then(|error| error.extensions.as_ref()?.get("code"))
        .and_then(|code| match code {
            Value::String(code) => Some(code.as_str()),
            _ => None,
        })
        .unwrap_or("ok");
    if trace_id.is_some() {
        crate::telemetry::request_outcome(outcome);
    }
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
    shape(response, wants_graphql_response)
}

/// A request over its principal's budget of requests per minute.
struct Refused {
    retry_after_secs: u64,
}

/// Runs the request as the viewer its token speaks for, within the viewer's budget, unless its
/// persisted query was not found or its document does not parse. Also the viewer's user id,
/// for the log.
async fn run(
    state: &HttpState,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    lookup: Result<Lookup, ServerError>,
    info: RequestInfo,
) -> Result<(async_graphql::Response, Option<i64>), Refused> {
    match (lookup, request.parsed_query()) {
        (Err(error), _) => Ok((async_graphql::Response::from_errors(vec![error]), None)),
        (Ok(_), Err(error)) => {
            let mut error = error.clone();
            set_code(&mut error, code::GRAPHQL_PARSE_FAILED);
            Ok((async_graphql::Response::from_errors(vec![error]), None))
        }
        (Ok(lookup), Ok(_)) => {
            if let Lookup::Resolved { hash, is_new: true } = lookup {
                state.persisted.remember(hash, &request.query).await;
            }
            let viewer = match client::access_token(headers, state.cookies) {
                Some(token) => {
                    authenticate::viewer(&state.app, &token, state.app.clock.now()).await
                }
                None => Ok(None),
            };
            let viewer = match viewer {
                Ok(viewer) => viewer,
                Err(error) => return Ok((failed(error), None)),
            };
            let user_id = viewer.as_ref().map(|viewer| viewer.user_id);
            let ceilings = match budgets::admit(&state.app, viewer.as_ref()).await {
                Ok(ceilings) => ceilings,
                Err(AppError::RateLimited { retry_after_secs }) => {
                    return Err(Refused { retry_after_secs });
                }
                Err(error) => return Ok((failed(error), user_id)),
            };
            let mut request = with_loaders(request.data(info).data(ceilings), &state.app.pool);
            if let Some(viewer) = viewer {
                request = request.data(viewer);
            }
            let response = budgets::run_within(ceilings, state.schema.execute(request)).await;
            Ok((response, user_id))
        }
    }
}

/// The answer to a request that failed before it could run.
fn failed(error: AppError) -> async_graphql::Response {
    let error = async_graphql::Error::from(error).into_server_error(Default::default());
    async_graphql::Response::from_errors(vec![error])
}

/// The HTTP answer to a GraphQL response, as GraphQL over HTTP asks: a client that accepts
/// `application/graphql-response+json` learns from the status whether anything ran.
fn shape(response: async_graphql::Response, wants_graphql_response: bool) -> Response {
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

/// Every error leaves with a code and the request id (and the trace id when traces are
/// exported). Errors async-graphql raises itself carry no code: before execution (no path) they
/// are validation failures; during execution they come from coercing the caller's input.
fn label_errors(response: &mut async_graphql::Response, request_id: &str, trace_id: Option<&str>) {
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
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("requestId", request_id);
        if let Some(trace_id) = trace_id {
            extensions.set("traceId", trace_id);
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    client::media_type(headers).is_some_and(|media| media == "application/json")
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
