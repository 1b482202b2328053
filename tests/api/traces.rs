//! OpenTelemetry traces from the real binary to an OTLP/HTTP receiver of the test's own: a root
//! span per request named after its operation and parented by the client's `traceparent`,
//! spans for the root fields that read the database and for their statements (SQL without
//! values), and the trace id in the log and in errors. Without an endpoint: none of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Server, TestApp, serve_on_loopback};

/// A client's trace: W3C `traceparent` with the sampled flag.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN_ID: &str = "00f067aa0ba902b7";
const OTHER_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// Spans received, each with the `service.name` of the batch it came in.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

impl Received {
    fn spans(&self) -> Vec<(String, Span)> {
        self.0.lock().unwrap().clone()
    }
}

async fn collect(State(received): State<Received>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let mut spans = received.0.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|resource| &resource.attributes)
            .find(|attribute| attribute.key == "service.name")
            .and_then(|attribute| text(attribute.value.as_ref()?.value.as_ref()?))
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            spans.extend(
                scope_spans
                    .spans
                    .into_iter()
                    .map(|span| (service.clone(), span)),
            );
        }
    }
    Vec::new()
}

/// An OTLP/HTTP receiver on loopback: its base URL (what OTEL_EXPORTER_OTLP_ENDPOINT names).
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let router = Router::new()
        .route("/v1/traces", post(collect))
        .with_state(received.clone());
    let (port, _) = serve_on_loopback(router).await;
    (format!("http://127.0.0.1:{port}"), received)
}

fn text(value: &any_value::Value) -> Option<String> {
    match value {
        any_value::Value::StringValue(text) => Some(text.clone()),
        _ => None,
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| text(attribute.value.as_ref()?.value.as_ref()?))
}

fn every_attribute_value(span: &Span) -> Vec<String> {
    span.attributes
        .iter()
        .filter_map(|attribute| Some(format!("{:?}", attribute.value.as_ref()?)))
        .chain([span.name.clone()])
        .collect()
}

/// Sends `query` with a W3C `traceparent` in `trace`, and the token when given.
async fn traced(
    server: &Server,
    trace: Option<&str>,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = crate::common::http_client()
        .post(format!("http://{}/graphql", server.address))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(trace) = trace {
        request = request.header("traceparent", format!("00-{trace}-{CLIENT_SPAN_ID}-01"));
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// SIGTERM, and the exit: the server flushes its queued spans on the way out.
async fn stop(server: &mut Server) -> Vec<String> {
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &server.process.id().unwrap().to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let (exit, logs) = server.exit_logs(Duration::from_secs(30)).await;
    assert!(exit.success(), "{logs:#?}");
    logs
}

/// The JSON log line of the request whose operation is `operation`.
fn logged(logs: &[String], operation: &str) -> Value {
    logs.iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|entry| entry["fields"]["operation"] == operation)
        .unwrap_or_else(|| panic!("no log line for {operation}: {logs:#?}"))
}

fn production(endpoint: Option<&str>) -> Vec<(&str, &str)> {
    let mut env = vec![
        ("AGORA_ENV", "production"),
        ("AGORA_PUBLIC_URL", "https://agora.example"),
        ("RUST_LOG", "info"),
        ("OTEL_SERVICE_NAME", "agora-under-test"),
        // Queued spans leave at shutdown, which the test brings about: no waiting on a timer.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ];
    if let Some(endpoint) = endpoint {
        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint));
    }
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_is_one_trace_under_the_clients_traceparent_with_resolvers_and_statements() {
    let t = TestApp::new().await;
    let (endpoint, received) = receiver().await;
    let mut server = t.binary(&production(Some(&endpoint))).await;
    server.register("ada").await;

    let login = traced(
        &server,
        Some(TRACE_ID),
        None,
        "mutation SignIn($password: String!) { login(input: { login: \"ada\", password: $password }) { ... on AuthPayload { accessToken refreshToken } } }",
        json!({ "password": PASSWORD }),
    )
    .await;
    let access_token = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh_token = login["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine = traced(
        &server,
        Some(OTHER_TRACE_ID),
        Some(&access_token),
        "query Mine { mySessions(first: 5) { totalCount } me { username roles { name } } }",
        json!({}),
    )
    .await;
    assert_eq!(mine["data"]["mySessions"]["totalCount"], 1, "{mine}");
    let refused = traced(
        &server,
        None,
        None,
        "query Private { mySessions(first: 5) { totalCount } }",
        json!({}),
    )
    .await;
    let logs = stop(&mut server).await;
    let spans = received.spans();
    assert!(
        spans
            .iter()
            .all(|(service, _)| service == "agora-under-test")
    );

    let trace = |id: &str| -> Vec<Span> {
        spans
            .iter()
            .map(|(_, span)| span.clone())
            .filter(|span| hex(&span.trace_id) == id)
            .collect()
    };
    let sign_in = trace(TRACE_ID);
    let roots: Vec<&Span> = sign_in
        .iter()
        .filter(|span| span.kind == SpanKind::Server as i32)
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "one root span for the request: {sign_in:#?}"
    );
    let root = roots[0];
    assert_eq!(root.name, "mutation SignIn");
    assert_eq!(hex(&root.parent_span_id), CLIENT_SPAN_ID);
    assert_eq!(
        attribute(root, "graphql.operation.name").as_deref(),
        Some("SignIn")
    );
    assert_eq!(
        attribute(root, "graphql.operation.type").as_deref(),
        Some("mutation")
    );
    let resolver = sign_in
        .iter()
        .find(|span| span.name == "Mutation.login")
        .unwrap_or_else(|| panic!("a span for login: {sign_in:#?}"));
    assert_eq!(resolver.parent_span_id, root.span_id);
    let statements: Vec<&Span> = sign_in
        .iter()
        .filter(|span| span.kind == SpanKind::Client as i32)
        .collect();
    assert!(
        statements
            .iter()
            .any(|span| span.parent_span_id == resolver.span_id
                && attribute(span, "db.query.text").is_some_and(|sql| sql.contains("$1"))),
        "the login's statements, as SQL with placeholders: {statements:#?}"
    );
    for span in &statements {
        assert_eq!(
            attribute(span, "db.system.name").as_deref(),
            Some("postgresql")
        );
        assert!(
            [root.span_id.clone(), resolver.span_id.clone()].contains(&span.parent_span_id),
            "a statement of the request: {span:#?}"
        );
    }
    // The registration's insert binds the address and the password's hash; the sign-in binds
    // the name; the session check binds the session's id.
    for span in spans.iter().map(|(_, span)| span) {
        for value in every_attribute_value(span) {
            for secret in [
                PASSWORD,
                &access_token,
                &refresh_token,
                "ada@example.com",
                "$argon2id",
                "'ada'",
                "\"ada\"",
            ] {
                assert!(!value.contains(secret), "{secret} exported in {span:#?}");
            }
        }
    }

    // The session check of `Mine` is a statement of the request; `me` reads no database (its
    // roles come through a loader), so only `mySessions` has a span of its own.
    let mine_spans = trace(OTHER_TRACE_ID);
    let names: Vec<&str> = mine_spans.iter().map(|span| span.name.as_str()).collect();
    assert!(names.contains(&"query Mine"), "{names:?}");
    assert!(names.contains(&"Query.mySessions"), "{names:?}");
    assert!(!names.contains(&"Query.me"), "{names:?}");
    // A DataLoader's batch runs in a task of its own, and its statement is still the request's.
    assert!(
        mine_spans
            .iter()
            .any(|span| attribute(span, "db.query.text")
                .is_some_and(|sql| sql.contains("\"user_roles\".\"user_id\" = ANY("))),
        "the roles loader's statement: {names:?}"
    );

    // A request without traceparent starts a trace of its own, which its error and its log line
    // name.
    let trace_id = refused["errors"][0]["extensions"]["traceId"]
        .as_str()
        .unwrap_or_else(|| panic!("a traceId: {refused}"));
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert!(refused["errors"][0]["extensions"]["requestId"].is_string());
    let private = trace(trace_id);
    assert!(
        private
            .iter()
            .any(|span| span.name == "query Private" && span.parent_span_id.is_empty()),
        "{private:#?}"
    );
    assert_eq!(logged(&logs, "Private")["span"]["trace_id"], trace_id);
    assert_eq!(logged(&logs, "SignIn")["span"]["trace_id"], TRACE_ID);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_endpoint_nothing_is_traced() {
    let t = TestApp::new().await;
    let mut server = t.binary(&production(None)).await;
    let refused = traced(
        &server,
        Some(TRACE_ID),
        None,
        "query Private { mySessions(first: 5) { totalCount } }",
        json!({}),
    )
    .await;
    let extensions = &refused["errors"][0]["extensions"];
    assert_eq!(extensions["code"], "UNAUTHENTICATED");
    assert!(extensions["requestId"].is_string());
    assert!(extensions.get("traceId").is_none(), "{refused}");
    let logs = stop(&mut server).await;
    let line = logged(&logs, "Private");
    assert!(line["span"].get("trace_id").is_none(), "{line}");
    assert_eq!(line["span"]["request_id"], extensions["requestId"]);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
